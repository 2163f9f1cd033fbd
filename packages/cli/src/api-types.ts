import { z } from 'zod';

/*
 * The answers the CLI reads, as DESIGN.md's REST API describes them. Loose objects: the CLI checks
 * the fields it uses and keeps the rest, so a gateway that adds a field does not break it, and
 * --json prints the gateway's answer untouched.
 */

const Json = z.unknown();

export const PreviewAction = z.looseObject({
  finding_id: z.string(),
  handler: z.string(),
  tier: z.string(),
  resource_id: z.string(),
  noop: z.boolean(),
  changes: z.array(z.string()).default([]),
  current_state: Json.optional(),
  planned_state: Json.optional(),
  skip_reason: z.string().optional(),
  error: z.string().optional(),
});
export type PreviewAction = z.infer<typeof PreviewAction>;

export const DryRunResponse = z.looseObject({
  batch_id: z.string(),
  actions_preview: z.array(PreviewAction),
  estimated_duration_s: z.number().optional(),
});
export type DryRunResponse = z.infer<typeof DryRunResponse>;

export const ExecuteResponse = z.looseObject({
  batch_id: z.string(),
  status: z.string(),
  started_at: z.string().nullish(),
  dispatcher_paused: z.boolean().optional(),
});
export type ExecuteResponse = z.infer<typeof ExecuteResponse>;

/** One snapshot's rollback as the batch status records it. */
export const RollbackRecord = z.looseObject({
  snapshot_id: z.string(),
  resource_id: z.string().optional(),
  handler: z.string().optional(),
  state: z.string(),
  error: z.string().nullish(),
  message: z.string().nullish(),
});
export type RollbackRecord = z.infer<typeof RollbackRecord>;

export const BatchItem = z.looseObject({
  finding_id: z.string(),
  handler: z.string(),
  tier: z.string().optional(),
  resource_id: z.string(),
  state: z.string(),
  /** The error code (an AWS code such as AccessDenied, or ours such as resource_not_found). */
  error: z.string().nullish(),
  error_message: z.string().nullish(),
  attempts: z.number().optional(),
  snapshot_id: z.string().nullish(),
});
export type BatchItem = z.infer<typeof BatchItem>;

export const BatchStatus = z.looseObject({
  batch_id: z.string(),
  status: z.string(),
  completed: z.number(),
  failed: z.number(),
  pending: z.number(),
  elapsed_s: z.number().nullish(),
  rollback_status: z.string().nullish(),
  items: z.array(BatchItem).default([]),
  stop_reason: z.string().nullish(),
  rollbacks: z.array(RollbackRecord).default([]),
});
export type BatchStatus = z.infer<typeof BatchStatus>;

/** Batch states after which nothing more happens to the batch. */
export const TERMINAL_BATCH_STATES = ['completed', 'completed_with_failures', 'stopped', 'failed'];
export const isBatchDone = (s: BatchStatus): boolean => TERMINAL_BATCH_STATES.includes(s.status);

export const SnapshotEntry = z.looseObject({
  snapshot_id: z.string(),
  resource_id: z.string(),
  handler: z.string(),
  taken_at: z.string(),
  finding_id: z.string().optional(),
  expires_at: z.string().nullish(),
});
export const SnapshotList = z.array(SnapshotEntry);
export type SnapshotEntry = z.infer<typeof SnapshotEntry>;

export const HandlerInfo = z.looseObject({
  name: z.string(),
  tier: z.string(),
  description: z.string().optional(),
  resource_type: z.string().optional(),
  iam_actions: z.array(z.string()).default([]),
  reversible: z.boolean().optional(),
  irreversible_reason: z.string().nullish(),
});
export type HandlerInfo = z.infer<typeof HandlerInfo>;
/** `{handlers:[...]}`, or a bare array from an older gateway. */
export const HandlersResponse = z.union([
  z.looseObject({ handlers: z.array(HandlerInfo) }),
  z.array(HandlerInfo).transform((handlers) => ({ handlers })),
]);

/** Why the dispatcher will not roll a snapshot back (irreversible, drifted, outside_window, …). */
const Refusal = z.looseObject({ code: z.string(), message: z.string() });

/** The dry run of a rollback: per snapshot, what would be restored and what stands in the way. */
export const RollbackAssessment = z.looseObject({
  snapshot_id: z.string(),
  finding_id: z.string().optional(),
  resource_id: z.string(),
  handler: z.string(),
  taken_at: z.string().optional(),
  expires_at: z.string().nullish(),
  current_state: Json.optional(),
  restore_state: Json.optional(),
  changes: z.array(z.string()).default([]),
  drift: z.string().nullish(),
  refused: Refusal.nullish(),
});
export type RollbackAssessment = z.infer<typeof RollbackAssessment>;

export const RollbackPreview = z.looseObject({
  batch_id: z.string(),
  rollbacks: z.array(RollbackAssessment),
});
export type RollbackPreview = z.infer<typeof RollbackPreview>;

export const RollbackAccepted = z.looseObject({
  batch_id: z.string(),
  rollback_status: z.string().nullish(),
  accepted: z.array(z.string()).default([]),
  refused: z
    .array(z.looseObject({ snapshot_id: z.string(), code: z.string().optional(), message: z.string() }))
    .default([]),
});
export type RollbackAccepted = z.infer<typeof RollbackAccepted>;

export const FindingsImported = z.looseObject({
  accepted: z.number(),
  created: z.number().optional(),
  updated: z.number().optional(),
});

/** Any JSON object or array: answers the CLI shows generically (report, stop state, rollback). */
export const AnyObject = z.record(z.string(), z.unknown());
export const AnyJson = z.unknown();
