import { RESOURCE_NOT_FOUND, classifyError, type Finding, type Tier, type TierSpec } from '@aegis/core';
import { planHash, type CloudClients, type HandlerRegistry, type HandlerSettings } from '@aegis/handlers';
import type { PlanItem } from './records';

/** Rough seconds one item takes, per tier, for `estimated_duration_s`. */
const SECONDS_PER_ITEM: Record<Tier, number> = { T1: 2, T2: 10, T3: 120 };

export interface PlannerDeps {
  registry: HandlerRegistry;
  clients: CloudClients;
  settings: HandlerSettings;
  tiers: Record<Tier, TierSpec>;
  /** Inspections in flight at once (read-only calls, still bounded to spare the API budget). */
  concurrency?: number;
}

/** Run `fn` over `items`, at most `limit` at a time, results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(lanes);
  return out;
}

/** Dry run: inspect each finding's live resource (read-only) and plan its fix. Changes nothing. */
export async function planFindings(deps: PlannerDeps, findings: Finding[]): Promise<PlanItem[]> {
  return mapLimit(findings, deps.concurrency ?? 16, async (f) => {
    const handler = deps.registry.get(f.handler);
    const target = { resource_id: f.resource_id, account_id: f.account_id, region: f.region };
    const base = {
      finding_id: f.id,
      handler: f.handler,
      tier: handler.tier,
      account_id: f.account_id,
      region: f.region,
      resource_id: f.resource_id,
    };
    try {
      const state = await handler.inspect(
        { clients: deps.clients.forAccount(target.account_id), settings: deps.settings, now: () => new Date() },
        target,
      );
      const plan = handler.plan(state, target, deps.settings, new Date());
      const item: PlanItem = {
        ...base,
        noop: plan.noop,
        changes: plan.changes,
        current_state: state,
        planned_state: plan.planned_state,
        ops: plan.ops,
        plan_hash: planHash(plan.ops),
      };
      if (plan.skip_reason) item.skip_reason = plan.skip_reason;
      return item;
    } catch (err) {
      const c = classifyError(err);
      const error = c.class === 'not_found' ? RESOURCE_NOT_FOUND : c.code;
      return {
        ...base,
        noop: false,
        changes: [],
        current_state: null,
        planned_state: null,
        ops: null,
        plan_hash: planHash(null),
        error,
        error_message: c.message,
      };
    }
  });
}

export function estimateDurationS(items: PlanItem[], tiers: Record<Tier, TierSpec>): number {
  let total = 0;
  for (const t of ['T1', 'T2', 'T3'] as const) {
    const n = items.filter((i) => i.tier === t && !i.noop && !i.error).length;
    if (n) total = Math.max(total, Math.ceil(n / tiers[t].concurrency) * SECONDS_PER_ITEM[t]);
  }
  return total;
}
