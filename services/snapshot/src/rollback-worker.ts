import { Queue, Worker, type Job } from 'bullmq';
import { QUEUE_NAMES } from '@aegis/core';
import { announceRollback, executeRollback, failOpenRollback, type RollbackJob, type Runtime } from '@aegis/dispatch';
import { parseStoredSnapshot } from './snapshot-doc';
import type { SnapshotStore } from './snapshot-store';

/**
 * A crashed worker's job is handed on once its lock has expired and a stalled check has seen it
 * twice: with BullMQ's defaults (30 s each) up to a minute, while an operator watches a resource
 * half restored. One job at a time makes the extra lock renewals and checks negligible.
 */
const ROLLBACK_LOCK_MS = 15_000;
const ROLLBACK_STALLED_CHECK_MS = 5_000;

/**
 * Consumes the `rollbacks` queue, one job at a time across every replica (global concurrency 1),
 * so a whole-batch rollback (enqueued newest snapshot first) undoes the changes in reverse order
 * of application. A job whose process dies is not lost: its lock expires and BullMQ's stalled-job
 * check hands it to the next worker (at most `maxStalledCount` times), and executeRollback resumes
 * a record it finds `running`.
 */
export async function startRollbackWorker(rt: Runtime, store: SnapshotStore): Promise<{ close(): Promise<void> }> {
  const deps = {
    store: rt.store,
    registry: rt.registry,
    clients: rt.clients,
    settings: rt.settings,
    windowMs: rt.env.AEGIS_ROLLBACK_WINDOW,
    metrics: rt.metrics,
    log: rt.log,
  };
  const processor = async (job: Job<RollbackJob>, _token?: string, signal?: AbortSignal): Promise<string> => {
    const { batch_id, snapshot_id } = job.data;
    const raw = await store.get(batch_id, snapshot_id);
    if (raw === null) {
      await failOpenRollback(
        deps,
        batch_id,
        snapshot_id,
        'snapshot_not_found',
        `${snapshot_id} is not in ${store.description}`,
      );
      return 'failed';
    }
    const doc = parseStoredSnapshot(raw, `${batch_id}/${snapshot_id}`);
    const rec = await executeRollback(deps, doc, {
      force: job.data.force,
      requestedBy: job.data.requested_by,
      signal,
    });
    await announceRollback(rt, {
      batch_id,
      snapshot_id,
      state: rec.state,
      requested_by: job.data.requested_by,
      error: rec.error ?? null,
    });
    return rec.state;
  };
  const queue = new Queue<RollbackJob>(QUEUE_NAMES.rollbacks, {
    connection: rt.bullConnection,
    prefix: rt.env.AEGIS_QUEUE_PREFIX,
  });
  await queue.setGlobalConcurrency(1);
  await queue.close();
  const worker = new Worker<RollbackJob>(QUEUE_NAMES.rollbacks, processor, {
    connection: rt.bullConnection,
    prefix: rt.env.AEGIS_QUEUE_PREFIX,
    concurrency: 1,
    maxStalledCount: 5,
    lockDuration: ROLLBACK_LOCK_MS,
    stalledInterval: ROLLBACK_STALLED_CHECK_MS,
  });
  worker.on('error', (err) => rt.log.error({ err: err.message }, 'rollback worker error'));
  // Attempts used up (the snapshot store kept failing) or stalled too often (a crash loop): the
  // record must not stay `queued` or `running` for ever.
  worker.on('failed', (job, err) => {
    const stalled = /stalled more than allowable limit/.test(err.message);
    if (!job || (!stalled && job.attemptsMade < (job.opts.attempts ?? 1))) return;
    const code = stalled ? 'rollback_stalled' : 'rollback_job_failed';
    failOpenRollback(deps, job.data.batch_id, job.data.snapshot_id, code, err.message).catch((e: unknown) =>
      rt.log.error({ err: (e as Error).message, snapshot_id: job.data.snapshot_id }, 'rollback record not updated'),
    );
  });
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
