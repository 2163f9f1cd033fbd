import { CommonEnv, DurationMs, Tier } from '@aegis/core';
import { z } from 'zod';

export const WorkerEnv = CommonEnv.extend({
  AEGIS_TIER: Tier,
  AEGIS_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  AEGIS_METRICS_HOST: z.string().default('0.0.0.0'),
  /** After SIGTERM: how long running jobs get to finish (beyond which they are aborted and requeued). */
  AEGIS_SHUTDOWN_DEADLINE: DurationMs.default(30_000),
  AEGIS_POLL_INTERVAL: DurationMs.default(1_000),
  /** BullMQ job lock: a killed worker's jobs go back to the queue after about one to two of these. */
  AEGIS_JOB_LOCK_DURATION: DurationMs.default(30_000),
});
export type WorkerEnv = z.infer<typeof WorkerEnv>;
