import { z } from 'zod';
import { ActionPlan, Json, ItemState, type BatchState, type RollbackState, type Tier } from '@aegis/core';

/** A planned item as stored with the batch: the preview plus the operations it was bound to. */
export const PlanItem = ActionPlan.extend({ ops: Json });
export type PlanItem = z.infer<typeof PlanItem>;

/** The run-time record of one item of an executed batch. */
export const ItemRecord = z.object({
  batch_id: z.string(),
  finding_id: z.string(),
  handler: z.string(),
  tier: z.string(),
  resource_id: z.string(),
  account_id: z.string(),
  region: z.string(),
  state: ItemState,
  attempts: z.number().int(),
  enqueued_at: z.string(),
  started_at: z.string().optional(),
  finished_at: z.string().optional(),
  duration_ms: z.number().optional(),
  error: z.string().optional(),
  error_message: z.string().optional(),
  detail: z.string().optional(),
  snapshot_id: z.string().optional(),
  throttle_deferrals: z.number().int().optional(),
});
export type ItemRecord = z.infer<typeof ItemRecord>;

export interface BatchHeader {
  batch_id: string;
  created_at: string;
  finding_ids: string[];
  executor_tier?: Tier | undefined;
  estimated_duration_s: number;
  requested_by: string;
  /** A single-resource batch made by POST /remediations/handlers/:handler. */
  single_handler?: string | undefined;
}

export interface BatchMeta {
  status: BatchState;
  executed: boolean;
  started_at?: string | undefined;
  finished_at?: string | undefined;
  stop_reason?: string | undefined;
  stop_figures?: Json | undefined;
  change_ticket?: string | undefined;
  executed_by?: string | undefined;
  rollback_status: RollbackState;
}

export interface ItemCounts {
  queued: number;
  running: number;
  succeeded: number;
  noop: number;
  failed: number;
  timed_out: number;
  cancelled: number;
}

/** One finished item, kept for reports (30 days) beyond BullMQ's job retention. */
export interface OutcomeRecord {
  batch_id: string;
  finding_id: string;
  handler: string;
  tier: string;
  status: ItemState;
  error?: string | undefined;
  enqueued_at: string;
  finished_at: string;
  /** From the first start of the item to its end. */
  duration_s: number;
  /** From enqueue to end: what the T1 SLA measures. */
  total_s: number;
}
