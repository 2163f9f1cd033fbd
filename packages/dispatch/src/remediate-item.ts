import {
  AegisError,
  RESOURCE_NOT_FOUND,
  classifyError,
  formatSnapshotId,
  METRIC_STATUS,
  type Finding,
  type FindingStatus,
  type ItemState,
  type Logger,
  type Tier,
  type TierSpec,
} from '@aegis/core';
import { planHash, type CloudClients, type HandlerRegistry, type HandlerSettings, type Target } from '@aegis/handlers';
import type { EventBus } from './events';
import type { DispatchMetrics } from './metrics';
import type { ItemRecord } from './records';
import type { SnapshotClient } from './snapshot-client';
import type { StateStore } from './state-store';

export interface RemediateDeps {
  store: StateStore;
  registry: HandlerRegistry;
  clients: CloudClients;
  snapshots: SnapshotClient;
  metrics: DispatchMetrics;
  log: Logger;
  tiers: Record<Tier, TierSpec>;
  settings: HandlerSettings;
  breaker: { maxFailurePct: number; minFinished: number };
  /** Called when the breaker stops a batch, with the cancelled finding ids (their jobs can go). */
  onBatchStopped?: (batchId: string, cancelled: string[]) => Promise<void>;
  /** Told once an outcome is recorded (events for other services, batch completion). */
  announce?: (item: ItemRecord, state: ItemState, error: string | null, batchStatus: string) => Promise<void>;
  /** Events for other services (the regression re-check publishes through it). */
  events?: EventBus;
  /** Called once an item succeeded: schedules its regression re-check (absent: none). */
  scheduleRecheck?: (item: ItemRecord) => Promise<void>;
  retry?: Partial<RetryPolicy>;
}

export interface RetryPolicy {
  /** Attempts for transient errors (5xx, network). */
  transientAttempts: number;
  /** Retries of a conflict (IncorrectState, ResourceInUse, ConflictException), about 60 s apart. */
  conflictRetries: number;
  conflictDelayMs: number;
  /** Throttled items go back to the queue this many times at most (not counted as attempts). */
  maxThrottleDeferrals: number;
  throttleBaseMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  transientAttempts: 3,
  conflictRetries: 3,
  conflictDelayMs: 60_000,
  maxThrottleDeferrals: 30,
  throttleBaseMs: 1_000,
};

/** What the queue should do with the job afterwards. */
export type ItemDecision = { kind: 'done'; state: ItemState } | { kind: 'requeue'; delayMs: number; reason: string };

const OPEN: readonly ItemState[] = ['queued', 'running'];

/**
 * One item, from queue to outcome: inspect → plan (bound to the dry run) → snapshot stored and
 * confirmed → apply → verify → record. Safe to run again after a crash at any point: the snapshot
 * id is fixed per item and written once, and a re-run that finds its own earlier snapshot
 * finishes the job instead of planning anew.
 */
export async function remediateItem(
  deps: RemediateDeps,
  batchId: string,
  findingId: string,
  signal: AbortSignal,
): Promise<ItemDecision> {
  const { store, registry, log } = deps;
  const retry = { ...DEFAULT_RETRY, ...deps.retry };
  // One round trip for everything the item needs before it starts.
  const { item, planItem, meta, estop, snapshotSeq: earlierSnap } = await store.itemContext(batchId, findingId);
  if (!item || !planItem) {
    log.error({ batch_id: batchId, finding_id: findingId }, 'job for an unknown item: dropped');
    return { kind: 'done', state: 'failed' };
  }
  if (!OPEN.includes(item.state)) {
    await finishInterrupted(deps, item, meta?.status ?? '');
    return { kind: 'done', state: item.state };
  }
  const tier = planItem.tier;
  const fields = {
    batch_id: batchId,
    finding_id: findingId,
    handler: planItem.handler,
    tier,
    resource_id: planItem.resource_id,
  };

  if (meta?.status === 'stopped') return finish(deps, item, 'cancelled', { error: 'batch_stopped' });
  if (estop) return { kind: 'requeue', delayMs: 1000, reason: 'emergency_stop' };

  const started = new Date();
  const run = await store.transition(batchId, findingId, 'running', OPEN, {
    attempts: item.attempts + 1,
    started_at: item.started_at ?? started.toISOString(),
  });
  if (!run.applied) return { kind: 'done', state: run.previous as ItemState };
  // The outcome's duration counts from the first start (kept across retries); attempts stay as read.
  item.started_at ??= started.toISOString();
  deps.metrics.active.inc({ tier });
  log.info({ ...fields, action: 'start', status: 'running', attempt: item.attempts + 1 }, 'remediation started');

  const handler = registry.get(planItem.handler);
  const target: Target = {
    resource_id: planItem.resource_id,
    account_id: planItem.account_id,
    region: planItem.region,
  };
  const ctx = {
    clients: deps.clients.forAccount(target.account_id),
    signal,
    log,
    settings: deps.settings,
    now: () => new Date(),
  };
  try {
    const state = await handler.inspect(ctx, target);
    const plan = handler.plan(state, target, deps.settings, new Date());
    if (plan.noop) {
      if (earlierSnap === null) return finish(deps, item, 'noop', { detail: plan.skip_reason ?? 'already compliant' });
      // An earlier attempt stored its snapshot and applied before it died: finish that attempt.
      const v = await handler.verify(ctx, target);
      return v.compliant
        ? finish(deps, item, 'succeeded', { snapshot_id: formatSnapshotId(earlierSnap), detail: v.detail })
        : finish(deps, item, 'failed', { error: 'verify_failed', error_message: v.detail });
    }
    if (earlierSnap === null && planHash(plan.ops) !== planItem.plan_hash) {
      return finish(deps, item, 'failed', {
        error: 'plan_changed',
        error_message: `the resource changed since the dry run; planned: ${planItem.changes.join('; ')}; now: ${plan.changes.join('; ')}`,
      });
    }
    const seq = earlierSnap ?? (await store.snapshotSeq(batchId, findingId));
    const snapshotId = formatSnapshotId(seq);
    let stored;
    try {
      stored = await deps.snapshots.store(
        {
          snapshot_id: snapshotId,
          batch_id: batchId,
          finding_id: findingId,
          handler: planItem.handler,
          provider: 'aws',
          account_id: planItem.account_id,
          region: planItem.region,
          resource_id: planItem.resource_id,
          taken_at: new Date().toISOString(),
          previous_state: state,
          planned_state: plan.planned_state,
          changes: plan.changes,
          plan_hash: planHash(plan.ops),
          ops: plan.ops,
          ...(meta?.change_ticket ? { change_ticket: meta.change_ticket } : {}),
          // Who executed the batch (read with the batch's meta above; the plan header is large).
          ...(meta?.executed_by ? { requested_by: meta.executed_by } : {}),
        },
        signal,
      );
    } catch (err) {
      deps.metrics.snapshots.inc({ handler: planItem.handler, status: 'failed' });
      throw err instanceof AegisError ? err : new AegisError('snapshot_failed', (err as Error).message);
    }
    deps.metrics.snapshots.inc({ handler: planItem.handler, status: stored.stored ? 'stored' : 'existing' });
    log.info({ ...fields, action: 'snapshot', status: 'running', snapshot_id: snapshotId }, 'snapshot stored');

    // Last gate before the change: an emergency stop or a stopped batch holds the item here.
    const gates = await store.applyGates(batchId);
    if (gates.estop) return requeue(deps, item, 1000, 'emergency_stop');
    if (gates.batchStopped) return finish(deps, item, 'cancelled', { error: 'batch_stopped', snapshot_id: snapshotId });

    await handler.apply(ctx, target, plan, state);
    log.info({ ...fields, action: 'apply', status: 'running', changes: plan.changes }, 'change applied');
    const v = await handler.verify(ctx, target);
    if (!v.compliant)
      return finish(deps, item, 'failed', { error: 'verify_failed', error_message: v.detail, snapshot_id: snapshotId });
    return finish(deps, item, 'succeeded', { snapshot_id: snapshotId, detail: v.detail });
  } catch (err) {
    return onError(deps, item, err, signal, retry);
  } finally {
    deps.metrics.active.dec({ tier });
  }
}

async function onError(
  deps: RemediateDeps,
  item: ItemRecord,
  err: unknown,
  signal: AbortSignal,
  retry: RetryPolicy,
): Promise<ItemDecision> {
  const c = classifyError(err);
  if (signal.aborted) {
    const reason = signal.reason as { name?: string } | undefined;
    if (reason?.name === 'TimeoutError')
      return finish(deps, item, 'timed_out', {
        error: 'timeout',
        error_message: `tier timeout reached during ${c.code}`,
      });
    return requeue(deps, item, 1000, 'shutdown');
  }
  const attempts = item.attempts + 1;
  switch (c.class) {
    case 'throttled': {
      const n = (item.throttle_deferrals ?? 0) + 1;
      if (n > retry.maxThrottleDeferrals)
        return finish(deps, item, 'failed', { error: c.code, error_message: c.message });
      const delay = Math.min(60_000, retry.throttleBaseMs * 2 ** Math.min(n, 6)) * (0.5 + Math.random() / 2);
      return requeue(deps, item, delay, 'throttled', { throttle_deferrals: n, attempts: item.attempts, error: c.code });
    }
    case 'conflict':
      if (attempts <= retry.conflictRetries)
        return requeue(deps, item, retry.conflictDelayMs, 'conflict', { error: c.code });
      return finish(deps, item, 'failed', { error: c.code, error_message: c.message });
    case 'transient':
      if (attempts < retry.transientAttempts)
        return requeue(deps, item, 1000 * 2 ** attempts, 'transient', { error: c.code });
      return finish(deps, item, 'failed', { error: c.code, error_message: c.message });
    case 'not_found':
      return finish(deps, item, 'failed', { error: RESOURCE_NOT_FOUND, error_message: `${c.code}: ${c.message}` });
    case 'timeout':
      return finish(deps, item, 'timed_out', { error: c.code, error_message: c.message });
    default:
      return finish(deps, item, 'failed', { error: c.code, error_message: c.message });
  }
}

async function requeue(
  deps: RemediateDeps,
  item: ItemRecord,
  delayMs: number,
  reason: string,
  patch: Partial<ItemRecord> = {},
): Promise<ItemDecision> {
  await deps.store.transition(item.batch_id, item.finding_id, 'queued', ['running'], patch);
  deps.metrics.retries.inc({ tier: item.tier, handler: item.handler, class: reason });
  const level = reason === 'throttled' || reason === 'emergency_stop' || reason === 'shutdown' ? 'info' : 'warn';
  deps.log[level](
    {
      batch_id: item.batch_id,
      finding_id: item.finding_id,
      handler: item.handler,
      tier: item.tier,
      resource_id: item.resource_id,
      action: 'requeue',
      status: 'queued',
      reason,
      error: patch.error,
      delay_ms: Math.round(delayMs),
    },
    `item back to the queue (${reason})`,
  );
  return { kind: 'requeue', delayMs, reason };
}

async function finish(
  deps: RemediateDeps,
  item: ItemRecord,
  state: ItemState,
  patch: Partial<ItemRecord>,
): Promise<ItemDecision> {
  const now = new Date();
  const startedAt = item.started_at ? Date.parse(item.started_at) : now.getTime();
  const durationMs = Math.max(0, now.getTime() - startedAt);
  const batchId = item.batch_id;
  const r = await deps.store.finish(
    item,
    state,
    OPEN,
    { ...patch, finished_at: now.toISOString(), duration_ms: durationMs },
    {
      batch_id: batchId,
      finding_id: item.finding_id,
      handler: item.handler,
      tier: item.tier,
      status: state,
      error: patch.error,
      enqueued_at: item.enqueued_at,
      finished_at: now.toISOString(),
      duration_s: durationMs / 1000,
      total_s: Math.max(0, now.getTime() - Date.parse(item.enqueued_at)) / 1000,
    },
  );
  if (!r.applied) return { kind: 'done', state: r.previous as ItemState };
  await afterOutcome(deps, { ...item, ...patch, state, duration_ms: durationMs }, r.batchStatus, r.finding);
  return { kind: 'done', state };
}

/**
 * Everything after an item's outcome is recorded: metrics, the `finish` log line (written first,
 * in the same tick as the reply, so an outcome without its line means the worker died right then),
 * the finding's status, the re-check, the breaker and the announcements.
 */
async function afterOutcome(
  deps: RemediateDeps,
  item: ItemRecord,
  batchStatus: string,
  finding: Finding | null,
): Promise<void> {
  const state = item.state;
  const batchId = item.batch_id;
  const durationMs = item.duration_ms ?? 0;
  // An earlier attempt's error (a throttled try) stays on the record; only an unsuccessful end has one.
  const error = state === 'succeeded' || state === 'noop' ? undefined : item.error;
  const status = METRIC_STATUS[state];
  deps.metrics.remediations.inc({ tier: item.tier, handler: item.handler, status });
  if (state !== 'cancelled')
    deps.metrics.duration.observe({ tier: item.tier, handler: item.handler }, durationMs / 1000);
  const fields = {
    batch_id: batchId,
    finding_id: item.finding_id,
    handler: item.handler,
    tier: item.tier,
    resource_id: item.resource_id,
    action: 'finish',
    status,
    error,
    duration_ms: durationMs,
    snapshot_id: item.snapshot_id,
  };
  if (state === 'failed' || state === 'timed_out')
    deps.log.error({ ...fields, message: item.error_message }, `remediation ${status}: ${error}`);
  else deps.log.info(fields, `remediation ${status}`);
  await deps.store.writeFindingStatus(finding, findingStatusAfter(state), batchId);
  if (state === 'succeeded' && deps.scheduleRecheck) {
    // The outcome stands whatever happens here: a lost re-check only loses the later warning.
    await deps
      .scheduleRecheck(item)
      .catch((err: unknown) =>
        deps.log.warn(
          { batch_id: batchId, finding_id: item.finding_id, action: 'recheck', err: (err as Error).message },
          're-check not scheduled',
        ),
      );
  }
  if (state === 'failed' || state === 'timed_out') await checkBreaker(deps, batchId);
  await deps.announce?.(item, state, error ?? null, batchStatus);
}

/**
 * A redelivered job of a finished item. Its finding still `remediating` for this batch means the
 * worker that recorded the outcome died before the steps after it (the finding is written right
 * after the `finish` line): they run now, so the item gets its one finish line, its finding
 * status, re-check and announcements. Cancelled items are the breaker's (no worker finished them).
 */
async function finishInterrupted(deps: RemediateDeps, item: ItemRecord, batchStatus: string): Promise<void> {
  if (item.state === 'cancelled') return;
  const f = await deps.store.getFinding(item.finding_id);
  if (f?.status !== 'remediating' || f.last_batch_id !== item.batch_id) return;
  await afterOutcome(deps, item, batchStatus, f);
}

/** The finding's status once its item ended in `state`. */
function findingStatusAfter(state: ItemState): FindingStatus {
  if (state === 'succeeded' || state === 'noop') return 'remediated';
  return state === 'cancelled' ? 'open' : 'failed';
}

/** DESIGN.md invariant 5: a batch whose failure rate passes the threshold stops itself. */
async function checkBreaker(deps: RemediateDeps, batchId: string): Promise<void> {
  const c = await deps.store.getCounts(batchId);
  const failed = c.failed + c.timed_out;
  const finished = failed + c.succeeded + c.noop;
  if (finished < deps.breaker.minFinished) return;
  const pct = (failed / finished) * 100;
  if (pct <= deps.breaker.maxFailurePct) return;
  const reason = `failure rate ${pct.toFixed(1)}% (${failed} of ${finished} finished) exceeded ${deps.breaker.maxFailurePct}%`;
  const cancelled = await deps.store.stopBatch(batchId, reason, {
    failed,
    finished,
    failure_pct: Number(pct.toFixed(1)),
    threshold_pct: deps.breaker.maxFailurePct,
  });
  if (!cancelled.length && (await deps.store.getMeta(batchId))?.stop_reason !== reason) return;
  deps.metrics.batchesStopped.inc({ reason: 'failure_rate' });
  deps.log.warn(
    { batch_id: batchId, action: 'breaker', status: 'stopped', cancelled: cancelled.length, failed, finished },
    `batch stopped: ${reason}`,
  );
  await deps.onBatchStopped?.(batchId, cancelled);
}
