import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QUEUE_NAMES, TIER_NAMES, TIER_QUEUES, type Tier, type TierSpec } from '@aegis/core';

/** Finished jobs are kept a while for Bull Board; outcomes live in our own records (state-store). */
export const JOB_RETENTION: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> = {
  removeOnComplete: { age: 24 * 3600, count: 20_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
};

export interface RemediateJob {
  batch_id: string;
  finding_id: string;
}

export interface RollbackJob {
  batch_id: string;
  snapshot_id: string;
  force: boolean;
  requested_by: string;
}

export interface DispatchQueues {
  tiers: Record<Tier, Queue<RemediateJob>>;
  rollbacks: Queue<RollbackJob>;
  all(): Queue[];
  close(): Promise<void>;
}

export function createQueues(connection: ConnectionOptions, prefix: string): DispatchQueues {
  const mk = <T>(name: string) => new Queue<T>(name, { connection, prefix });
  const tiers = {
    T1: mk<RemediateJob>(TIER_QUEUES.T1),
    T2: mk<RemediateJob>(TIER_QUEUES.T2),
    T3: mk<RemediateJob>(TIER_QUEUES.T3),
  };
  const rollbacks = mk<RollbackJob>(QUEUE_NAMES.rollbacks);
  const webhooks = mk(QUEUE_NAMES.webhooks);
  return {
    tiers,
    rollbacks,
    all: () => [...TIER_NAMES.map((t) => tiers[t] as Queue), rollbacks as Queue, webhooks],
    close: async () => {
      await Promise.all([...TIER_NAMES.map((t) => tiers[t].close()), rollbacks.close(), webhooks.close()]);
    },
  };
}

/** Apply the tier table to the queues: global concurrency is stored in Redis and holds across replicas. */
export async function applyTierConcurrency(queues: DispatchQueues, tiers: Record<Tier, TierSpec>): Promise<void> {
  await Promise.all(TIER_NAMES.map((t) => queues.tiers[t].setGlobalConcurrency(tiers[t].concurrency)));
}
