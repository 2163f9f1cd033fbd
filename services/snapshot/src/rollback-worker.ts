import { Worker, type Job } from 'bullmq';
import { QUEUE_NAMES } from '@aegis/core';
import { executeRollback, type RollbackJob, type Runtime, type SnapshotDoc } from '@aegis/dispatch';
import type { SnapshotStore } from './snapshot-store';

/**
 * Consumes the `rollbacks` queue. One job at a time, so a whole-batch rollback (enqueued newest
 * snapshot first) undoes the changes in reverse order of application.
 */
export async function startRollbackWorker(rt: Runtime, store: SnapshotStore): Promise<{ close(): Promise<void> }> {
  const processor = async (job: Job<RollbackJob>, _token?: string, signal?: AbortSignal): Promise<string> => {
    const raw = await store.get(job.data.batch_id, job.data.snapshot_id);
    if (!raw) throw new Error(`snapshot ${job.data.batch_id}/${job.data.snapshot_id} not in the store`);
    const doc = JSON.parse(raw) as SnapshotDoc;
    const rec = await executeRollback(
      {
        store: rt.store,
        registry: rt.registry,
        clients: rt.clients,
        settings: rt.settings,
        windowMs: rt.env.AEGIS_ROLLBACK_WINDOW,
        metrics: rt.metrics,
        log: rt.log,
      },
      doc,
      { force: job.data.force, ...(signal ? { signal } : {}) },
    );
    return rec.state;
  };
  const worker = new Worker<RollbackJob>(QUEUE_NAMES.rollbacks, processor, {
    connection: rt.bullConnection,
    prefix: rt.env.AEGIS_QUEUE_PREFIX,
    concurrency: 1,
    maxStalledCount: 20,
  });
  worker.on('error', (err) => rt.log.error({ err: err.message }, 'rollback worker error'));
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
