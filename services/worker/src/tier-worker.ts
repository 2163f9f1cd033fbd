import { DelayedError, Queue, Worker, type Job } from 'bullmq';
import { JOB_NAMES, TIER_QUEUES, itemJobId, type Tier } from '@aegis/core';
import {
  announceItemFinished,
  SnapshotClient,
  recheckItem,
  remediateItem,
  scheduleRecheck,
  type RemediateDeps,
  type RemediateJob,
  type Runtime,
} from '@aegis/dispatch';

export interface TierWorker {
  worker: Worker<RemediateJob>;
  queue: Queue<RemediateJob>;
  /** Abort every job in flight (shutdown past its deadline): they go back to the queue. */
  abortAll(): void;
  close(): Promise<void>;
}

/**
 * The BullMQ side of a worker: a thin processor that hands each job to its use case, by job name:
 * `remediate` to remediateItem, `recheck` (the regression re-check after a success) to recheckItem.
 */
export async function startTierWorker(
  rt: Runtime,
  tier: Tier,
  opts: { snapshotUrl: string; pollIntervalMs: number; lockDurationMs?: number },
): Promise<TierWorker> {
  const spec = rt.tiers[tier];
  const name = TIER_QUEUES[tier];
  const prefix = rt.env.AEGIS_QUEUE_PREFIX;
  const queue = new Queue<RemediateJob>(name, { connection: rt.bullConnection, prefix });
  await queue.setGlobalConcurrency(spec.concurrency);
  const shutdown = new AbortController();
  const deps: RemediateDeps = {
    store: rt.store,
    registry: rt.registry,
    clients: rt.clients,
    snapshots: new SnapshotClient(opts.snapshotUrl),
    metrics: rt.metrics,
    log: rt.log,
    tiers: rt.tiers,
    settings: { ...rt.settings, pollIntervalMs: opts.pollIntervalMs },
    breaker: { maxFailurePct: rt.env.AEGIS_BATCH_MAX_FAILURE_PCT, minFinished: rt.env.AEGIS_BATCH_MIN_FINISHED },
    announce: (item, state, error, batchStatus) =>
      announceItemFinished(
        { store: rt.store, events: rt.events, audit: rt.audit, log: rt.log },
        item,
        state,
        error,
        batchStatus,
      ),
    events: rt.events,
    onBatchStopped: async (batchId, cancelled) => {
      // The breaker already marked them cancelled; removing their jobs just saves the workers a visit.
      await Promise.all(cancelled.map((f) => queue.remove(itemJobId(batchId, f)).catch(() => 0)));
    },
    ...(rt.env.AEGIS_RECHECK_DELAY > 0
      ? { scheduleRecheck: (item) => scheduleRecheck(queue, item, rt.env.AEGIS_RECHECK_DELAY) }
      : {}),
  };

  const processor = async (job: Job<RemediateJob>, token?: string, signal?: AbortSignal): Promise<string> => {
    const sources = [AbortSignal.timeout(spec.timeoutMs), shutdown.signal];
    if (signal) sources.push(signal);
    const jobSignal = AbortSignal.any(sources);
    if (job.name === JOB_NAMES.recheck) return recheckItem(deps, job.data.batch_id, job.data.finding_id, jobSignal);
    const decision = await remediateItem(deps, job.data.batch_id, job.data.finding_id, jobSignal);
    if (decision.kind === 'requeue') {
      await job.moveToDelayed(Date.now() + Math.round(decision.delayMs), token);
      throw new DelayedError();
    }
    return decision.state;
  };

  const worker = new Worker<RemediateJob>(name, processor, {
    connection: rt.bullConnection,
    prefix,
    concurrency: spec.concurrency,
    // A killed pod's jobs come back after the lock expires; exactly-once effect is the use case's job.
    maxStalledCount: 20,
    lockDuration: opts.lockDurationMs ?? 30_000,
    stalledInterval: opts.lockDurationMs ?? 30_000,
  });
  worker.on('error', (err) => rt.log.error({ tier, err: err.message }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (!job) return;
    if (job.name === JOB_NAMES.recheck) {
      // Retried by BullMQ (attempts, backoff); the item's outcome is not touched.
      rt.log.warn(
        {
          tier,
          batch_id: job.data.batch_id,
          finding_id: job.data.finding_id,
          action: 'recheck',
          attempt: job.attemptsMade,
          err: err.message,
        },
        're-check failed',
      );
      return;
    }
    // Only an unexpected bug gets here (the use case catches cloud errors): close the item honestly.
    rt.log.error(
      { tier, batch_id: job.data.batch_id, finding_id: job.data.finding_id, error: 'internal_error', err: err.message },
      'job failed unexpectedly',
    );
    void rt.store
      .transition(job.data.batch_id, job.data.finding_id, 'failed', ['queued', 'running'], {
        error: 'internal_error',
        error_message: err.message,
        finished_at: new Date().toISOString(),
      })
      .catch(() => undefined);
  });
  await worker.waitUntilReady();
  return {
    worker,
    queue,
    abortAll: () => shutdown.abort(new Error('shutdown')),
    close: async () => {
      await worker.close();
      await queue.close();
      deps.snapshots.close();
    },
  };
}
