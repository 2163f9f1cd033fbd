import { RESOURCE_NOT_FOUND, TIER_NAMES, itemJobId, type Finding, type Tier } from '@aegis/core';
import {
  JOB_RETENTION,
  LuaScript,
  estimateDurationS,
  getRollbackRecords,
  planFindings,
  type DispatchQueues,
  type ItemRecord,
  type PlanItem,
  type Runtime,
} from '@aegis/dispatch';
import { ApiError } from './http-errors';

export interface GatewayPolicy {
  planTtlMs: number;
  productionAccounts: ReadonlySet<string>;
  changeTicketPattern: RegExp;
  maxBatchItems: number;
  /** AEGIS_ALLOWED_ACCOUNTS: findings of other accounts are refused (null: any account). */
  allowedAccounts?: ReadonlySet<string> | null;
}

/**
 * An execute records its items, then enqueues their jobs: two writes that cannot be one. One that
 * died between them (gateway killed, Redis gone for the producer) left items that no job would
 * ever run. Whoever looks at the batch next (its status, or the execute retried) enqueues the
 * rest, unless the execute still holds its lease (it is alive, enqueueing). Doing it twice changes
 * nothing: item records are created only when absent (this script), and job ids are deterministic.
 */
const ENQUEUE_LEASE_MS = 10_000;
/**
 * Items are staged in chunks (any batch size), then put in place in one step only if absent.
 * KEYS: items, counts, staging. ARGV: item count.
 */
const INIT_ITEMS_ONCE_LUA = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DEL', KEYS[3]) return 0 end
redis.call('RENAME', KEYS[3], KEYS[1])
redis.call('HSET', KEYS[2], 'queued', ARGV[1], 'running', 0, 'succeeded', 0, 'noop', 0, 'failed', 0,
  'timed_out', 0, 'cancelled', 0)
return 1
`;
const INIT_ITEMS_ONCE = new LuaScript(INIT_ITEMS_ONCE_LUA);

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && new Set([...a, ...b]).size === new Set(a).size && new Set(a).size === a.length;

/** The remediation use cases behind the API: dry run, execute, status. */
export class RemediationService {
  constructor(
    private readonly rt: Runtime,
    private readonly queues: DispatchQueues,
    private readonly policy: GatewayPolicy,
  ) {}

  async loadFindings(ids: string[], executorTier?: Tier): Promise<Finding[]> {
    if (new Set(ids).size !== ids.length)
      throw new ApiError(400, 'validation_failed', 'finding_ids contains duplicates', {
        duplicates: ids.filter((id, i) => ids.indexOf(id) !== i),
      });
    if (ids.length > this.policy.maxBatchItems)
      throw new ApiError(400, 'validation_failed', `at most ${this.policy.maxBatchItems} findings per batch`);
    const found = await this.rt.store.getFindings(ids);
    const unknown = ids.filter((_, i) => !found[i]);
    if (unknown.length)
      throw new ApiError(404, 'unknown_findings', `unknown finding ids: ${unknown.join(', ')}`, {
        unknown_finding_ids: unknown,
      });
    const findings = found as Finding[];
    const providers = [...new Set(findings.map((f) => f.provider))];
    if (providers.length > 1)
      throw new ApiError(422, 'mixed_providers', `findings of one provider per batch (got ${providers.join(', ')})`, {
        providers,
      });
    if (executorTier) {
      const outside = findings.filter((f) => this.rt.registry.get(f.handler).tier !== executorTier);
      if (outside.length) {
        throw new ApiError(
          422,
          'tier_mismatch',
          `findings whose handler is not in tier ${executorTier}: ${outside.map((f) => `${f.id} (${f.handler}, ${this.rt.registry.get(f.handler).tier})`).join(', ')}`,
          {
            finding_ids: outside.map((f) => f.id),
          },
        );
      }
    }
    return findings;
  }

  /** AEGIS_ALLOWED_ACCOUNTS holds for every way a finding reaches a plan (batch or single resource). */
  private assertAccountsAllowed(findings: Finding[]): void {
    const allowed = this.policy.allowedAccounts;
    const outside = allowed ? findings.filter((f) => !allowed.has(f.account_id)) : [];
    if (outside.length)
      throw new ApiError(
        422,
        'account_not_allowed',
        `findings of accounts outside AEGIS_ALLOWED_ACCOUNTS: ${outside.map((f) => `${f.id} (${f.account_id})`).join(', ')}`,
        { finding_ids: outside.map((f) => f.id), accounts: [...new Set(outside.map((f) => f.account_id))] },
      );
  }

  async dryRun(
    findings: Finding[],
    opts: { executorTier?: Tier | undefined; requestedBy: string; singleHandler?: string },
  ) {
    this.assertAccountsAllowed(findings);
    const items = await planFindings(
      { registry: this.rt.registry, clients: this.rt.clients, settings: this.rt.settings, tiers: this.rt.tiers },
      findings,
    );
    const now = new Date();
    const batchId = await this.rt.store.nextBatchId(now);
    const estimated = estimateDurationS(items, this.rt.tiers);
    await this.rt.store.createPlannedBatch(
      {
        batch_id: batchId,
        created_at: now.toISOString(),
        finding_ids: findings.map((f) => f.id),
        executor_tier: opts.executorTier,
        estimated_duration_s: estimated,
        requested_by: opts.requestedBy,
        single_handler: opts.singleHandler,
      },
      items,
    );
    await Promise.all(findings.map((f) => this.rt.store.setFindingStatus(f.id, 'planned', batchId)));
    this.rt.log.info(
      { batch_id: batchId, action: 'dry_run', status: 'planned', items: items.length, requested_by: opts.requestedBy },
      'dry run planned',
    );
    return {
      batch_id: batchId,
      status: 'planned',
      dry_run: true,
      actions_preview: items.map(preview),
      estimated_duration_s: estimated,
      expires_at: new Date(now.getTime() + this.policy.planTtlMs).toISOString(),
    };
  }

  async execute(
    req: {
      batch_id: string;
      finding_ids: string[];
      executor_tier?: Tier | undefined;
      change_ticket?: string | undefined;
    },
    requestedBy: string,
  ) {
    const { store } = this.rt;
    const header = await store.getHeader(req.batch_id);
    const meta = await store.getMeta(req.batch_id);
    if (!header || !meta)
      throw new ApiError(
        404,
        'unknown_batch',
        `no dry run ${req.batch_id}: run a dry run first (dry_run:true) and execute its batch_id`,
      );
    if (meta.executed) {
      if (sameSet(header.finding_ids, req.finding_ids) && (await this.resumeEnqueue(req.batch_id)))
        return this.executing(req.batch_id, meta.started_at ?? '', header.finding_ids.length);
      throw new ApiError(
        409,
        'already_executed',
        `batch ${req.batch_id} was executed already at ${meta.started_at}; run a new dry run`,
      );
    }
    if (!sameSet(header.finding_ids, req.finding_ids)) {
      throw new ApiError(409, 'plan_mismatch', `finding_ids differ from the dry run of ${req.batch_id}`, {
        planned: header.finding_ids,
        missing: header.finding_ids.filter((f) => !req.finding_ids.includes(f)),
        extra: req.finding_ids.filter((f) => !header.finding_ids.includes(f)),
      });
    }
    if (req.executor_tier && header.executor_tier && req.executor_tier !== header.executor_tier) {
      throw new ApiError(
        409,
        'plan_mismatch',
        `the dry run was for tier ${header.executor_tier}, not ${req.executor_tier}`,
      );
    }
    const age = Date.now() - Date.parse(header.created_at);
    if (age > this.policy.planTtlMs)
      throw new ApiError(
        409,
        'plan_expired',
        `the dry run ${req.batch_id} is ${Math.round(age / 1000)} s old, older than the plan TTL; run a new dry run`,
      );
    const items = await store.getPlanItems(req.batch_id);
    // Out of scope (runbook: "Confirm resource is in scope"): the resource is not in the finding's
    // account and region. Nothing of such a batch is enqueued; the operator fixes or drops the finding.
    const notFound = items.filter((i) => i.error === RESOURCE_NOT_FOUND);
    if (notFound.length)
      throw new ApiError(
        422,
        'resource_not_in_scope',
        `resources not found in their finding's account and region: ${notFound.map((i) => `${i.finding_id} (${i.resource_id} in ${i.account_id}/${i.region})`).join(', ')}; run a dry run without them`,
        {
          items: notFound.map((i) => ({
            finding_id: i.finding_id,
            resource_id: i.resource_id,
            account_id: i.account_id,
            region: i.region,
          })),
        },
      );
    const prodAccounts = [
      ...new Set(items.map((i) => i.account_id).filter((a) => this.policy.productionAccounts.has(a))),
    ];
    if (prodAccounts.length) {
      if (!req.change_ticket)
        throw new ApiError(
          422,
          'change_ticket_required',
          `a change_ticket is required for production accounts: ${prodAccounts.join(', ')}`,
          { accounts: prodAccounts },
        );
      if (!this.policy.changeTicketPattern.test(req.change_ticket)) {
        throw new ApiError(
          422,
          'invalid_change_ticket',
          `change_ticket "${req.change_ticket}" does not match ${this.policy.changeTicketPattern.source}`,
        );
      }
    }
    const startedAt = new Date().toISOString();
    const won = await store.claimExecution(req.batch_id, {
      started_at: startedAt,
      executed_by: requestedBy,
      change_ticket: req.change_ticket,
    });
    if (!won) throw new ApiError(409, 'already_executed', `batch ${req.batch_id} was executed already`);
    await store.redis.set(this.leaseKey(req.batch_id), startedAt, 'PX', ENQUEUE_LEASE_MS);
    await this.enqueue(req.batch_id, items, startedAt);
    this.rt.log.info(
      {
        batch_id: req.batch_id,
        action: 'execute',
        status: 'running',
        items: items.length,
        requested_by: requestedBy,
        change_ticket: req.change_ticket,
      },
      'batch executing',
    );
    return this.executing(req.batch_id, startedAt, items.length);
  }

  private leaseKey(batchId: string): string {
    return `${this.rt.store.keys.prefix}:batch:${batchId}:enqueuing`;
  }

  /** Items recorded once, then a job for each item still queued; `enqueued_at` says it is done. */
  private async enqueue(batchId: string, items: PlanItem[], startedAt: string): Promise<void> {
    const { store } = this.rt;
    const records = items.map((i): ItemRecord => ({
      batch_id: batchId,
      finding_id: i.finding_id,
      handler: i.handler,
      tier: i.tier,
      resource_id: i.resource_id,
      account_id: i.account_id,
      region: i.region,
      state: 'queued',
      attempts: 0,
      enqueued_at: startedAt,
    }));
    const staging = `${store.keys.batchItems(batchId)}:staging`;
    for (let k = 0; k < records.length; k += 1000) {
      await store.redis.hset(
        staging,
        Object.fromEntries(records.slice(k, k + 1000).map((r) => [r.finding_id, JSON.stringify(r)])),
      );
    }
    await INIT_ITEMS_ONCE.run(
      store.redis,
      [store.keys.batchItems(batchId), store.keys.batchCounts(batchId), staging],
      [String(records.length)],
    );
    const queued = new Set(
      (await store.getItems(batchId)).filter((i) => i.state === 'queued').map((i) => i.finding_id),
    );
    const todo = items.filter((i) => queued.has(i.finding_id));
    // Before the jobs exist: a fast worker's final finding status is never overwritten by this one.
    await Promise.all(todo.map((i) => store.setFindingStatus(i.finding_id, 'remediating', batchId)));
    for (const t of TIER_NAMES) {
      const mine = todo.filter((i) => i.tier === t);
      for (let k = 0; k < mine.length; k += 1000) {
        await this.queues.tiers[t].addBulk(
          mine.slice(k, k + 1000).map((i) => ({
            name: 'remediate',
            data: { batch_id: batchId, finding_id: i.finding_id },
            opts: { jobId: itemJobId(batchId, i.finding_id), attempts: 1, ...JOB_RETENTION },
          })),
        );
        await store.redis.pexpire(this.leaseKey(batchId), ENQUEUE_LEASE_MS);
      }
    }
    await store.redis.hset(store.keys.batchMeta(batchId), 'enqueued_at', new Date().toISOString());
    await store.redis.del(this.leaseKey(batchId));
  }

  /**
   * At start-up and then every minute: finish the enqueueing of any recent batch whose execute died
   * half-way, so a stuck batch does not wait for somebody to look at it. Returns how many.
   */
  async sweepUnfinishedEnqueues(sinceMs = this.policy.planTtlMs + 86_400_000): Promise<number> {
    const { store } = this.rt;
    const ids = await store.redis.zrangebyscore(store.keys.batches(), Date.now() - sinceMs, '+inf');
    let resumed = 0;
    for (const id of ids) if (await this.resumeEnqueue(id)) resumed++;
    return resumed;
  }

  /** Finishes the enqueueing of an execute that died half-way; false when there is none to finish. */
  private async resumeEnqueue(batchId: string): Promise<boolean> {
    const { store } = this.rt;
    const [status, enqueuedAt, startedAt] = await store.redis.hmget(
      store.keys.batchMeta(batchId),
      'status',
      'enqueued_at',
      'started_at',
    );
    if (status !== 'running' || enqueuedAt || !startedAt) return false;
    if ((await store.redis.set(this.leaseKey(batchId), startedAt, 'PX', ENQUEUE_LEASE_MS, 'NX')) !== 'OK') return false;
    const items = await store.getPlanItems(batchId);
    this.rt.log.warn(
      { batch_id: batchId, action: 'resume_enqueue', status: 'running', items: items.length },
      'batch recorded but not fully enqueued (its execute died half-way): enqueueing the rest',
    );
    await this.enqueue(batchId, items, startedAt);
    return true;
  }

  private async executing(batchId: string, startedAt: string, items: number) {
    const stop = await this.rt.store.getEmergencyStop();
    return {
      batch_id: batchId,
      status: 'running',
      started_at: startedAt,
      items,
      dispatcher_paused: stop !== null,
      ...(stop ? { message: `the dispatcher is stopped (${stop.reason}); items are queued and run after resume` } : {}),
    };
  }

  async status(batchId: string) {
    const { store } = this.rt;
    const header = await store.getHeader(batchId);
    const meta = await store.getMeta(batchId);
    if (!header || !meta) throw new ApiError(404, 'unknown_batch', `no batch ${batchId}`);
    if (meta.status === 'running') await this.resumeEnqueue(batchId);
    const planItems = await store.getPlanItems(batchId);
    const c = await store.getCounts(batchId);
    const items = meta.executed ? await store.getItems(batchId) : [];
    const byId = new Map(items.map((i) => [i.finding_id, i]));
    const end = meta.finished_at ? Date.parse(meta.finished_at) : Date.now();
    const rollbacks = await getRollbackRecords(store, batchId);
    // Positions looked up, not searched: indexOf in the comparator made a 10,000-item status take seconds.
    const order = new Map(header.finding_ids.map((id, i) => [id, i]));
    return {
      batch_id: batchId,
      status: meta.status,
      completed: c.succeeded + c.noop,
      failed: c.failed + c.timed_out,
      pending: meta.executed ? c.queued + c.running : planItems.length,
      cancelled: c.cancelled,
      counts: c,
      elapsed_s: meta.started_at ? Math.round((end - Date.parse(meta.started_at)) / 100) / 10 : 0,
      created_at: header.created_at,
      started_at: meta.started_at ?? null,
      finished_at: meta.finished_at ?? null,
      executor_tier: header.executor_tier ?? null,
      change_ticket: meta.change_ticket ?? null,
      requested_by: header.requested_by,
      stop_reason: meta.stop_reason ?? null,
      stop_figures: meta.stop_figures ?? null,
      estimated_duration_s: header.estimated_duration_s,
      rollback_status: meta.rollback_status,
      rollbacks,
      items: planItems
        .sort((a, b) => (order.get(a.finding_id) ?? -1) - (order.get(b.finding_id) ?? -1))
        .map((p) => {
          const r = byId.get(p.finding_id);
          return {
            finding_id: p.finding_id,
            handler: p.handler,
            tier: p.tier,
            resource_id: p.resource_id,
            account_id: p.account_id,
            region: p.region,
            state: r?.state ?? 'planned',
            noop_planned: p.noop,
            changes: p.changes,
            error: r?.error ?? p.error ?? null,
            error_message: r?.error_message ?? p.error_message ?? null,
            detail: r?.detail ?? null,
            attempts: r?.attempts ?? 0,
            snapshot_id: r?.snapshot_id ?? null,
            enqueued_at: r?.enqueued_at ?? null,
            started_at: r?.started_at ?? null,
            finished_at: r?.finished_at ?? null,
            duration_ms: r?.duration_ms ?? null,
          };
        }),
    };
  }
}

export function preview(i: PlanItem) {
  return {
    finding_id: i.finding_id,
    handler: i.handler,
    tier: i.tier,
    account_id: i.account_id,
    region: i.region,
    resource_id: i.resource_id,
    noop: i.noop,
    changes: i.changes,
    current_state: i.current_state,
    planned_state: i.planned_state,
    ...(i.skip_reason ? { skip_reason: i.skip_reason } : {}),
    ...(i.error ? { error: i.error, error_message: i.error_message } : {}),
  };
}
