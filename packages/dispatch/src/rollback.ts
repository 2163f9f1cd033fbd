import { setTimeout as delay } from 'node:timers/promises';
import { classifyError, type ErrorClass, type Json, type Logger, type RollbackState } from '@aegis/core';
import {
  planHash,
  type CloudClients,
  type Handler,
  type HandlerRegistry,
  type HandlerSettings,
  type RollbackInput,
  type Target,
} from '@aegis/handlers';
import { LuaScript } from './lua-script';
import type { DispatchMetrics } from './metrics';
import type { SnapshotDoc } from './snapshot-client';
import type { StateStore } from './state-store';

export const ROLLBACK_ITEM_STATES = ['queued', 'running', 'rolled_back', 'failed'] as const;
export type RollbackItemState = (typeof ROLLBACK_ITEM_STATES)[number];

/** The rollback of one snapshot, one field of the batch's rollbacks hash in Redis. */
export interface RollbackRecord {
  snapshot_id: string;
  finding_id: string;
  handler: string;
  resource_id: string;
  state: RollbackItemState;
  error?: string | undefined;
  message?: string | undefined;
  requested_at: string;
  requested_by?: string | undefined;
  force?: boolean | undefined;
  started_at?: string | undefined;
  finished_at?: string | undefined;
  duration_ms?: number | undefined;
}

export interface RollbackDeps {
  registry: HandlerRegistry;
  clients: CloudClients;
  settings: HandlerSettings;
  windowMs: number;
}

/**
 * Why a snapshot is not rolled back. Request-time refusals are answered per snapshot and never
 * recorded; the same checks at execution time fail the (accepted) rollback with that code.
 */
export const REFUSAL_CODES = [
  'irreversible',
  'rollback_running',
  'already_rolled_back',
  'remediation_running',
  'outside_window',
  'resource_not_found',
  'drifted',
] as const;

/** What a rollback of one snapshot would do, or why it is refused. */
export interface RollbackAssessment {
  snapshot_id: string;
  finding_id: string;
  resource_id: string;
  handler: string;
  taken_at: string;
  expires_at: string;
  current_state: Json;
  restore_state: Json;
  changes: string[];
  drift: string | null;
  /** Set when the rollback will not run: one of REFUSAL_CODES, or the cloud's code when the live state cannot be read. */
  refused?: { code: string; message: string } | undefined;
}

export interface AssessOptions {
  force: boolean;
  existing?: RollbackRecord | null | undefined;
  /** State of the batch item that took the snapshot: a remediation still queued or running is not rolled back. */
  itemState?: string | null | undefined;
  now?: Date | undefined;
  /** Read the live state even when a refusal is already known (a dry run shows it). */
  inspectRefused?: boolean | undefined;
  /** At execution: a rollback accepted inside the window runs even if the queue made it wait. */
  ignoreWindow?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

export function expiresAt(doc: SnapshotDoc, windowMs: number): string {
  return new Date(Date.parse(doc.taken_at) + windowMs).toISOString();
}

export function rollbackInput(doc: SnapshotDoc): RollbackInput {
  return { previous_state: doc.previous_state, planned_state: doc.planned_state, ops: doc.ops };
}

const targetOf = (doc: SnapshotDoc): Target => ({
  resource_id: doc.resource_id,
  account_id: doc.account_id,
  region: doc.region,
});

/** Refusals that need no cloud call, most fundamental first. */
function refusalWithoutCloud(handler: Handler, doc: SnapshotDoc, opts: AssessOptions, expires: string, now: Date) {
  if (!handler.rollback.reversible)
    return { code: 'irreversible', message: `${doc.handler} cannot be rolled back: ${handler.rollback.reason}` };
  const ex = opts.existing;
  if (ex && (ex.state === 'queued' || ex.state === 'running'))
    return { code: 'rollback_running', message: `a rollback of ${doc.snapshot_id} is already ${ex.state}` };
  if (ex?.state === 'rolled_back')
    return {
      code: 'already_rolled_back',
      message: `${doc.snapshot_id} was rolled back at ${ex.finished_at ?? 'an earlier request'}`,
    };
  if (opts.itemState === 'queued' || opts.itemState === 'running')
    return {
      code: 'remediation_running',
      message: `the remediation of ${doc.finding_id} is still ${opts.itemState}; roll back once it has finished`,
    };
  if (!opts.ignoreWindow && now.getTime() > Date.parse(expires))
    return { code: 'outside_window', message: `the rollback window of ${doc.snapshot_id} closed at ${expires}` };
  return undefined;
}

/** Read-only: compare the live resource with the snapshot and decide whether it may be rolled back. */
export async function assessRollback(
  deps: RollbackDeps,
  doc: SnapshotDoc,
  opts: AssessOptions,
): Promise<RollbackAssessment> {
  const now = opts.now ?? new Date();
  const handler = deps.registry.get(doc.handler);
  const base: RollbackAssessment = {
    snapshot_id: doc.snapshot_id,
    finding_id: doc.finding_id,
    resource_id: doc.resource_id,
    handler: doc.handler,
    taken_at: doc.taken_at,
    expires_at: expiresAt(doc, deps.windowMs),
    current_state: null,
    restore_state: doc.previous_state,
    changes: doc.changes.map((c) => `undo: ${c}`),
    drift: null,
  };
  const refused = refusalWithoutCloud(handler, doc, opts, base.expires_at, now);
  if (refused && !opts.inspectRefused) return { ...base, refused };
  const ctx = {
    clients: deps.clients.forAccount(doc.account_id),
    settings: deps.settings,
    signal: opts.signal,
    now: () => now,
  };
  try {
    base.current_state = await handler.inspect(ctx, targetOf(doc));
    if (handler.rollback.reversible) base.drift = handler.rollback.drifted(base.current_state, rollbackInput(doc));
  } catch (err) {
    if (refused) return { ...base, refused };
    const c = classifyError(err);
    return { ...base, refused: { code: c.class === 'not_found' ? 'resource_not_found' : c.code, message: c.message } };
  }
  if (refused) return { ...base, refused };
  if (base.drift && !opts.force) {
    return {
      ...base,
      refused: {
        code: 'drifted',
        message: `${doc.resource_id} changed since the remediation (${base.drift}); pass force:true to roll back anyway`,
      },
    };
  }
  return base;
}

export interface RollbackRetry {
  /** Runs of restore + verify for throttled, transient or conflicting calls (the restore is idempotent). */
  attempts: number;
  baseDelayMs: number;
}
export const DEFAULT_ROLLBACK_RETRY: RollbackRetry = { attempts: 4, baseDelayMs: 2_000 };
const RETRYABLE: ReadonlySet<ErrorClass> = new Set(['throttled', 'transient', 'conflict']);

export interface ExecuteDeps extends RollbackDeps {
  store: StateStore;
  metrics: DispatchMetrics;
  log: Logger;
  retry?: Partial<RollbackRetry> | undefined;
}

type Outcome = { ok: true; message?: string } | { ok: false; error: string; message: string };

/**
 * Execute one accepted rollback: restore through the handler, then check the resource is back as
 * the snapshot says. A job that finds its record `running` is a redelivery after a crash (BullMQ
 * stalled-job recovery): it runs again, drift allowed, since the first run may have restored part
 * of the resource already and every restore is idempotent.
 */
export async function executeRollback(
  deps: ExecuteDeps,
  doc: SnapshotDoc,
  opts: { force: boolean; requestedBy?: string | undefined; signal?: AbortSignal | undefined },
): Promise<RollbackRecord> {
  const { store, log } = deps;
  const prev = await getRollbackRecord(store, doc.batch_id, doc.snapshot_id);
  // A redelivered job of a rollback that already ended.
  if (prev?.state === 'rolled_back' || prev?.state === 'failed') return prev;
  const resumed = prev?.state === 'running';
  const startedAt = new Date();
  const rec: RollbackRecord = {
    snapshot_id: doc.snapshot_id,
    finding_id: doc.finding_id,
    handler: doc.handler,
    resource_id: doc.resource_id,
    state: 'running',
    requested_at: prev?.requested_at ?? startedAt.toISOString(),
    requested_by: prev?.requested_by ?? opts.requestedBy,
    force: opts.force,
    started_at: startedAt.toISOString(),
  };
  await putRollbackRecord(store, doc.batch_id, rec);
  const handler = deps.registry.get(doc.handler);
  const fields = {
    batch_id: doc.batch_id,
    finding_id: doc.finding_id,
    handler: doc.handler,
    tier: handler.tier,
    resource_id: doc.resource_id,
    snapshot_id: doc.snapshot_id,
    action: 'rollback',
  };
  log.info({ ...fields, status: 'running', force: opts.force, resumed }, 'rollback started');

  let outcome: Outcome;
  try {
    outcome = await restoreAndVerify(deps, handler, doc, { force: opts.force || resumed, signal: opts.signal });
  } catch (err) {
    const c = classifyError(err);
    outcome = { ok: false, error: c.code, message: c.message };
  }
  const finished = new Date();
  rec.state = outcome.ok ? 'rolled_back' : 'failed';
  if (outcome.ok) rec.message = outcome.message;
  else {
    rec.error = outcome.error;
    rec.message = outcome.message;
  }
  rec.finished_at = finished.toISOString();
  rec.duration_ms = finished.getTime() - startedAt.getTime();
  await putRollbackRecord(store, doc.batch_id, rec);
  const status = outcome.ok ? 'success' : 'failed';
  deps.metrics.rollbacks.inc({ handler: doc.handler, status });
  const line = { ...fields, status, error: rec.error, duration_ms: rec.duration_ms };
  if (outcome.ok) {
    log.info(outcome.message ? { ...line, message: outcome.message } : line, 'rollback done');
    await store.setFindingStatus(doc.finding_id, 'rolled_back');
  } else log.error({ ...line, message: rec.message }, `rollback failed: ${rec.error}`);
  await refreshRollbackStatus(store, doc.batch_id);
  return rec;
}

async function restoreAndVerify(
  deps: ExecuteDeps,
  handler: Handler,
  doc: SnapshotDoc,
  opts: { force: boolean; signal?: AbortSignal | undefined },
): Promise<Outcome> {
  if (!handler.rollback.reversible)
    return {
      ok: false,
      error: 'irreversible',
      message: `${doc.handler} cannot be rolled back: ${handler.rollback.reason}`,
    };
  const { restore, drifted } = handler.rollback;
  // Checked again at execution: the resource may have changed since the request was accepted.
  const a = await assessRollback(deps, doc, { force: opts.force, ignoreWindow: true, signal: opts.signal });
  if (a.refused) return { ok: false, error: a.refused.code, message: a.refused.message };
  const retry = { ...DEFAULT_ROLLBACK_RETRY, ...deps.retry };
  const target = targetOf(doc);
  const input = rollbackInput(doc);
  const ctx = {
    clients: deps.clients.forAccount(target.account_id),
    settings: deps.settings,
    signal: opts.signal,
    log: deps.log,
    now: () => new Date(),
  };
  let after: Json;
  for (let attempt = 1; ; attempt++) {
    try {
      await restore(ctx, target, input);
      after = await handler.inspect(ctx, target);
      break;
    } catch (err) {
      const c = classifyError(err);
      if (attempt >= retry.attempts || !RETRYABLE.has(c.class) || opts.signal?.aborted) throw err;
      deps.log.warn(
        { batch_id: doc.batch_id, snapshot_id: doc.snapshot_id, action: 'rollback', error: c.code, attempt },
        `rollback retried after ${c.class} error`,
      );
      await delay(retry.baseDelayMs * 2 ** (attempt - 1), undefined, opts.signal ? { signal: opts.signal } : {});
    }
  }
  const left = drifted(after, { ...input, planned_state: doc.previous_state });
  if (!left) return { ok: true };
  // Drift rolled back with force: changes made by others since stay, so the resource cannot equal
  // the snapshot. Ours are undone when it needs exactly the remediation we made once more.
  if (a.drift) {
    const again = handler.plan(after, target, deps.settings, new Date());
    if (!again.noop && planHash(again.ops) === doc.plan_hash)
      return { ok: true, message: `our change is undone; changes made since the remediation remain: ${left}` };
  }
  return {
    ok: false,
    error: 'verify_failed',
    message: `after the rollback the resource still differs from the snapshot: ${left}`,
  };
}

/**
 * The batch's rollback_status from its per-snapshot records and the number of snapshots of the
 * batch that can be rolled back at all (`rollback_scope`, reversible handlers only, recorded by
 * each request). Atomic, so a request and a finishing job never write a stale status.
 */
const ROLLBACK_STATUS_LUA = `
local vals = redis.call('HVALS', KEYS[1])
if #vals == 0 then return redis.call('HGET', KEYS[2], 'rollback_status') or 'none' end
local scope = tonumber(redis.call('HGET', KEYS[2], 'rollback_scope') or '0') or 0
local open, ok, bad = 0, 0, 0
for _, v in ipairs(vals) do
  local s = cjson.decode(v).state
  if s == 'queued' or s == 'running' then open = open + 1
  elseif s == 'rolled_back' then ok = ok + 1
  else bad = bad + 1 end
end
local status
if open > 0 then status = 'rolling_back'
elseif ok == 0 then status = 'failed'
elseif bad == 0 and ok >= scope then status = 'rolled_back'
else status = 'partially_rolled_back' end
redis.call('HSET', KEYS[2], 'rollback_status', status)
return status
`;

/**
 * Claim snapshots for rollback: each is set `queued` unless a rollback of it is queued, running or
 * done (a concurrent request won). KEYS: rollbacks, meta. ARGV: scope, then snapshot id and record
 * pairs. Returns the ids not claimed.
 */
const CLAIM_ROLLBACKS_LUA = `
local lost = {}
for i = 2, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  local s = cur and cjson.decode(cur).state
  if s == 'queued' or s == 'running' or s == 'rolled_back' then table.insert(lost, ARGV[i])
  else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
redis.call('HSET', KEYS[2], 'rollback_scope', ARGV[1])
return lost
`;

const ROLLBACK_STATUS = new LuaScript(ROLLBACK_STATUS_LUA);
const CLAIM_ROLLBACKS = new LuaScript(CLAIM_ROLLBACKS_LUA);

export async function refreshRollbackStatus(store: StateStore, batchId: string): Promise<RollbackState> {
  return (await ROLLBACK_STATUS.run(
    store.redis,
    [store.keys.batchRollbacks(batchId), store.keys.batchMeta(batchId)],
    [],
  )) as RollbackState;
}

/**
 * Record accepted rollbacks as `queued` before their jobs are enqueued. `scope`: how many
 * snapshots of the batch are reversible. Returns the snapshot ids another request claimed first.
 */
export async function claimRollbacks(
  store: StateStore,
  batchId: string,
  records: RollbackRecord[],
  scope: number,
): Promise<string[]> {
  const lost = (await CLAIM_ROLLBACKS.run(
    store.redis,
    [store.keys.batchRollbacks(batchId), store.keys.batchMeta(batchId)],
    [String(scope), ...records.flatMap((r) => [r.snapshot_id, JSON.stringify(r)])],
  )) as string[];
  await refreshRollbackStatus(store, batchId);
  return lost;
}

/**
 * A rollback job that ended outside executeRollback (snapshot unreadable, stalled too often):
 * its record, if still open, becomes `failed` so the batch's status does not stay `rolling_back`.
 */
export async function failOpenRollback(
  deps: { store: StateStore; metrics: DispatchMetrics; log: Logger },
  batchId: string,
  snapshotId: string,
  error: string,
  message: string,
): Promise<void> {
  const rec = await getRollbackRecord(deps.store, batchId, snapshotId);
  if (!rec || (rec.state !== 'queued' && rec.state !== 'running')) return;
  const next: RollbackRecord = { ...rec, state: 'failed', error, message, finished_at: new Date().toISOString() };
  await putRollbackRecord(deps.store, batchId, next);
  deps.metrics.rollbacks.inc({ handler: rec.handler, status: 'failed' });
  deps.log.error(
    {
      batch_id: batchId,
      finding_id: rec.finding_id,
      handler: rec.handler,
      resource_id: rec.resource_id,
      snapshot_id: snapshotId,
      action: 'rollback',
      status: 'failed',
      error,
      message,
    },
    `rollback failed: ${error}`,
  );
  await refreshRollbackStatus(deps.store, batchId);
}

async function getRollbackRecord(
  store: StateStore,
  batchId: string,
  snapshotId: string,
): Promise<RollbackRecord | null> {
  const raw = await store.redis.hget(store.keys.batchRollbacks(batchId), snapshotId);
  return raw ? (JSON.parse(raw) as RollbackRecord) : null;
}

async function putRollbackRecord(store: StateStore, batchId: string, rec: RollbackRecord): Promise<void> {
  await store.redis.hset(store.keys.batchRollbacks(batchId), rec.snapshot_id, JSON.stringify(rec));
}

export async function getRollbackRecords(store: StateStore, batchId: string): Promise<RollbackRecord[]> {
  return Object.values(await store.redis.hgetall(store.keys.batchRollbacks(batchId)))
    .map((r) => JSON.parse(r) as RollbackRecord)
    .sort((a, b) => a.snapshot_id.localeCompare(b.snapshot_id));
}
