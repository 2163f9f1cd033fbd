import { JOB_NAMES, classifyError, type Logger } from '@aegis/core';
import type { CloudClients, HandlerRegistry, HandlerSettings, Target } from '@aegis/handlers';
import type { Queue } from 'bullmq';
import type { EventBus } from './events';
import type { DispatchMetrics } from './metrics';
import { JOB_RETENTION, type RemediateJob } from './queues';
import type { ItemRecord } from './records';
import type { StateStore } from './state-store';

export interface RecheckDeps {
  /** Publishes `finding.regressed` (absent: no event). */
  events?: EventBus;
  store: StateStore;
  registry: HandlerRegistry;
  clients: CloudClients;
  metrics: DispatchMetrics;
  log: Logger;
  settings: HandlerSettings;
}

export type RecheckResult = 'compliant' | 'regressed' | 'resource_gone' | 'skipped' | 'error';

/** One re-check per remediated item: a second success of the same item (a re-delivery) adds none. */
export function recheckJobId(batchId: string, findingId: string): string {
  return `recheck__${batchId}__${findingId}`;
}

/** Put the item's re-check on its tier queue, `delayMs` after its success. */
export async function scheduleRecheck(queue: Queue<RemediateJob>, item: ItemRecord, delayMs: number): Promise<void> {
  await queue.add(
    JOB_NAMES.recheck,
    { batch_id: item.batch_id, finding_id: item.finding_id },
    {
      jobId: recheckJobId(item.batch_id, item.finding_id),
      delay: delayMs,
      // A re-check only reads: cloud errors are retried by BullMQ itself, a few times, then given up.
      attempts: 4,
      backoff: { type: 'exponential', delay: 15_000 },
      ...JOB_RETENTION,
    },
  );
}

/**
 * The regression re-check: some time after a success, inspect the resource again and plan with
 * its handler. A plan that is not a noop means the resource was misconfigured again (by a parent
 * resource, automation or a person): the finding becomes `regressed`, and the warning names the
 * finding's dependencies, the root resources to fix instead (runbook, "Dependency Conflict").
 * Throttling and transient errors are thrown, for the queue to retry; a permanent one ends it.
 */
export async function recheckItem(
  deps: RecheckDeps,
  batchId: string,
  findingId: string,
  signal: AbortSignal,
): Promise<RecheckResult> {
  const { store, log } = deps;
  const item = await store.getItem(batchId, findingId);
  const finding = await store.getFinding(findingId);
  // A later batch, a rollback or an earlier verdict owns the finding's status now.
  if (!item || !finding || item.state !== 'succeeded') return 'skipped';
  if (finding.status !== 'remediated' || finding.last_batch_id !== batchId) return 'skipped';

  const labels = { tier: item.tier, handler: item.handler };
  const fields = {
    batch_id: batchId,
    finding_id: findingId,
    handler: item.handler,
    tier: item.tier,
    resource_id: item.resource_id,
    action: 'recheck',
  };
  const handler = deps.registry.get(item.handler);
  const target: Target = { resource_id: item.resource_id, account_id: item.account_id, region: item.region };
  const ctx = {
    clients: deps.clients.forAccount(target.account_id),
    signal,
    log,
    settings: deps.settings,
    now: () => new Date(),
  };
  let state;
  try {
    state = await handler.inspect(ctx, target);
  } catch (err) {
    const c = classifyError(err);
    if (c.class === 'not_found') {
      deps.metrics.rechecks.inc({ ...labels, result: 'resource_gone' });
      log.info({ ...fields, status: 'remediated', error: c.code }, 're-check: the resource is gone');
      return 'resource_gone';
    }
    if (c.class !== 'permanent') throw err;
    deps.metrics.rechecks.inc({ ...labels, result: 'error' });
    log.warn({ ...fields, status: 'unknown', error: c.code }, `re-check could not read the resource: ${c.message}`);
    return 'error';
  }
  const plan = handler.plan(state, target, deps.settings, new Date());
  if (plan.noop) {
    deps.metrics.rechecks.inc({ ...labels, result: 'compliant' });
    log.info({ ...fields, status: 'remediated' }, 're-check: still compliant');
    return 'compliant';
  }

  await store.setFindingStatus(findingId, 'regressed', batchId);
  deps.metrics.rechecks.inc({ ...labels, result: 'regressed' });
  deps.metrics.regressions.inc(labels);
  await deps.events
    ?.publish('finding.regressed', {
      batch_id: batchId,
      finding_id: findingId,
      handler: item.handler,
      resource_id: item.resource_id,
    })
    .catch((err: unknown) => log.warn({ ...fields, err: (err as Error).message }, 'event not published'));
  const roots = finding.dependencies;
  const hint = roots.length
    ? `fix the root resource instead: ${roots.map((d) => `${d.resource_id} (${d.relation})`).join(', ')}`
    : 'no dependencies recorded: look for automation or IaC that re-applies the setting';
  log.warn(
    { ...fields, status: 'regressed', changes: plan.changes, dependencies: roots },
    `re-check: ${item.resource_id} is misconfigured again after remediation (${plan.changes.join('; ')}); ${hint}`,
  );
  return 'regressed';
}
