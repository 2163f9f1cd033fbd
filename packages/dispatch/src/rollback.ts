import { classifyError, type Json, type Logger } from '@aegis/core';
import type { CloudClients, Handler, HandlerRegistry, HandlerSettings } from '@aegis/handlers';
import type { DispatchMetrics } from './metrics';
import type { SnapshotDoc } from './snapshot-client';
import type { StateStore } from './state-store';

export const ROLLBACK_ITEM_STATES = ['queued', 'running', 'rolled_back', 'failed'] as const;
export type RollbackItemState = (typeof ROLLBACK_ITEM_STATES)[number];

export interface RollbackRecord {
  snapshot_id: string;
  finding_id: string;
  handler: string;
  resource_id: string;
  state: RollbackItemState;
  error?: string | undefined;
  message?: string | undefined;
  requested_at: string;
  finished_at?: string | undefined;
}

export interface RollbackDeps {
  registry: HandlerRegistry;
  clients: CloudClients;
  settings: HandlerSettings;
  windowMs: number;
}

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
  /** Set when the rollback will not run: outside_window, irreversible, drifted, already_rolled_back, rollback_running, resource_not_found. */
  refused?: { code: string; message: string } | undefined;
}

export function expiresAt(doc: SnapshotDoc, windowMs: number): string {
  return new Date(Date.parse(doc.taken_at) + windowMs).toISOString();
}

/** Read-only: compare the live resource with the snapshot and decide whether it may be rolled back. */
export async function assessRollback(
  deps: RollbackDeps,
  doc: SnapshotDoc,
  opts: { force: boolean; existing?: RollbackRecord | null; now?: Date },
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
  if (!handler.rollback.reversible)
    return {
      ...base,
      refused: { code: 'irreversible', message: `${doc.handler} cannot be rolled back: ${handler.rollback.reason}` },
    };
  if (opts.existing?.state === 'rolled_back')
    return {
      ...base,
      refused: {
        code: 'already_rolled_back',
        message: `${doc.snapshot_id} was rolled back at ${opts.existing.finished_at}`,
      },
    };
  if (opts.existing && (opts.existing.state === 'queued' || opts.existing.state === 'running')) {
    return {
      ...base,
      refused: {
        code: 'rollback_running',
        message: `a rollback of ${doc.snapshot_id} is already ${opts.existing.state}`,
      },
    };
  }
  if (now.getTime() > Date.parse(base.expires_at)) {
    return {
      ...base,
      refused: {
        code: 'outside_window',
        message: `the rollback window of ${doc.snapshot_id} closed at ${base.expires_at}`,
      },
    };
  }
  const target = { resource_id: doc.resource_id, account_id: doc.account_id, region: doc.region };
  try {
    base.current_state = await handler.inspect(
      { clients: deps.clients, settings: deps.settings, now: () => now },
      target,
    );
  } catch (err) {
    const c = classifyError(err);
    return { ...base, refused: { code: c.class === 'not_found' ? 'resource_not_found' : c.code, message: c.message } };
  }
  base.drift = handler.rollback.drifted(base.current_state, rollbackInput(doc));
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

export function rollbackInput(doc: SnapshotDoc) {
  return { previous_state: doc.previous_state, planned_state: doc.planned_state, ops: doc.ops };
}

/** Execute one rollback: restore through the handler, then check the resource is back as it was. */
export async function executeRollback(
  deps: RollbackDeps & { store: StateStore; metrics: DispatchMetrics; log: Logger },
  doc: SnapshotDoc,
  opts: { force: boolean; signal?: AbortSignal },
): Promise<RollbackRecord> {
  const { store, log } = deps;
  const key = store.keys.batchRollbacks(doc.batch_id);
  const prevRaw = await store.redis.hget(key, doc.snapshot_id);
  const prev = prevRaw ? (JSON.parse(prevRaw) as RollbackRecord) : null;
  if (prev?.state === 'rolled_back' || prev?.state === 'failed') return prev;
  const rec: RollbackRecord = {
    snapshot_id: doc.snapshot_id,
    finding_id: doc.finding_id,
    handler: doc.handler,
    resource_id: doc.resource_id,
    state: 'running',
    requested_at: prev?.requested_at ?? new Date().toISOString(),
  };
  await store.redis.hset(key, doc.snapshot_id, JSON.stringify(rec));
  const fields = {
    batch_id: doc.batch_id,
    finding_id: doc.finding_id,
    handler: doc.handler,
    resource_id: doc.resource_id,
    snapshot_id: doc.snapshot_id,
    action: 'rollback',
  };
  const started = Date.now();
  let handler: Handler | undefined;
  try {
    handler = deps.registry.get(doc.handler);
    // Re-checked at execution: the resource may have changed since the request was accepted.
    const a = await assessRollback(deps, doc, { force: opts.force, existing: null });
    if (a.refused) {
      rec.state = 'failed';
      rec.error = a.refused.code;
      rec.message = a.refused.message;
    } else if (handler.rollback.reversible) {
      const target = { resource_id: doc.resource_id, account_id: doc.account_id, region: doc.region };
      const ctx = { clients: deps.clients, settings: deps.settings, signal: opts.signal, log, now: () => new Date() };
      await handler.rollback.restore(ctx, target, rollbackInput(doc));
      const after = await handler.inspect(ctx, target);
      const left = handler.rollback.drifted(after, { ...rollbackInput(doc), planned_state: doc.previous_state });
      if (left) {
        rec.state = 'failed';
        rec.error = 'verify_failed';
        rec.message = `after the rollback the resource still differs from the snapshot: ${left}`;
      } else rec.state = 'rolled_back';
    }
  } catch (err) {
    const c = classifyError(err);
    rec.state = 'failed';
    rec.error = c.code;
    rec.message = c.message;
  }
  rec.finished_at = new Date().toISOString();
  await store.redis.hset(key, doc.snapshot_id, JSON.stringify(rec));
  const status = rec.state === 'rolled_back' ? 'success' : 'failed';
  deps.metrics.rollbacks.inc({ handler: doc.handler, status });
  const line = { ...fields, status, error: rec.error, duration_ms: Date.now() - started };
  if (rec.state === 'rolled_back') {
    log.info(line, 'rollback done');
    await store.setFindingStatus(doc.finding_id, 'rolled_back');
  } else log.error({ ...line, message: rec.message }, `rollback failed: ${rec.error}`);
  await refreshRollbackStatus(store, doc.batch_id);
  return rec;
}

/** The batch's rollback_status from its per-snapshot records. */
export async function refreshRollbackStatus(store: StateStore, batchId: string): Promise<void> {
  const all = Object.values(await store.redis.hgetall(store.keys.batchRollbacks(batchId))).map(
    (r) => JSON.parse(r) as RollbackRecord,
  );
  if (!all.length) return;
  const open = all.some((r) => r.state === 'queued' || r.state === 'running');
  const ok = all.filter((r) => r.state === 'rolled_back').length;
  const status = open
    ? 'rolling_back'
    : ok === all.length
      ? 'rolled_back'
      : ok === 0
        ? 'failed'
        : 'partially_rolled_back';
  await store.setRollbackStatus(batchId, status);
}

export async function getRollbackRecords(store: StateStore, batchId: string): Promise<RollbackRecord[]> {
  return Object.values(await store.redis.hgetall(store.keys.batchRollbacks(batchId)))
    .map((r) => JSON.parse(r) as RollbackRecord)
    .sort((a, b) => a.snapshot_id.localeCompare(b.snapshot_id));
}
