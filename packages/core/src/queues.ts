import type { Tier } from './tiers';

/**
 * Queue names, in one place. Never rename one: jobs already in Redis are found by these names,
 * and dashboards and alert rules match on them.
 */
export const QUEUE_NAMES = {
  T1: 'remediation-t1',
  T2: 'remediation-t2',
  T3: 'remediation-t3',
  rollbacks: 'rollbacks',
  webhooks: 'webhooks',
} as const;

export const TIER_QUEUES: Readonly<Record<Tier, string>> = {
  T1: QUEUE_NAMES.T1,
  T2: QUEUE_NAMES.T2,
  T3: QUEUE_NAMES.T3,
};

/** Job names inside the queues. */
export const JOB_NAMES = { remediate: 'remediate', rollback: 'rollback', recheck: 'recheck' } as const;

/** Deterministic job id for an item, so a second enqueue of the same item is a no-op in BullMQ. */
export function itemJobId(batchId: string, findingId: string): string {
  return `${batchId}__${findingId}`;
}
