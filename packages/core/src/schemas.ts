import { z } from 'zod';
import { HandlerName, Tier } from './tiers';

/** Ids that travel into Redis keys, job ids, file names and S3 keys: no separators, no traversal. */
export const SafeId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits, ".", "_" and "-" only, starting with a letter or digit');

export const AccountId = z.string().regex(/^\d{12}$/, 'a 12-digit AWS account id');
export const Region = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'an AWS region such as us-east-1');
/** Resource ids: security group ids, bucket names, instance ids, IAM user names or ARNs, account ids. */
export const ResourceId = z
  .string()
  .min(1)
  .max(256)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9:/._+=,@-]*$/,
    'a resource id (security group id, bucket name, instance id, IAM user or ARN, account id)',
  )
  .refine((s) => !s.includes('..'), 'must not contain ".."');

export const Severity = z.enum(['critical', 'high', 'medium', 'low', 'informational']);

export const Dependency = z.strictObject({ resource_id: ResourceId, relation: z.string().min(1).max(64) });

export const FINDING_STATUSES = [
  'open',
  'planned',
  'remediating',
  'remediated',
  'failed',
  'regressed',
  'rolled_back',
] as const;
export const FindingStatus = z.enum(FINDING_STATUSES);
export type FindingStatus = z.infer<typeof FindingStatus>;

/** A finding as scanners send it. */
export const FindingInput = z.strictObject({
  id: SafeId,
  handler: HandlerName,
  provider: z.literal('aws'),
  account_id: AccountId,
  region: Region,
  resource_id: ResourceId,
  severity: Severity.optional(),
  title: z.string().max(512).optional(),
  dependencies: z.array(Dependency).max(50).optional(),
});
export type FindingInput = z.infer<typeof FindingInput>;

export const Finding = FindingInput.extend({
  severity: Severity,
  title: z.string(),
  dependencies: z.array(Dependency),
  status: FindingStatus,
  created_at: z.string(),
  updated_at: z.string(),
  last_batch_id: z.string().optional(),
});
export type Finding = z.infer<typeof Finding>;

/** Any JSON value: the handlers' states are plain JSON documents. */
export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
export const Json: z.ZodType<Json> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(Json), z.record(z.string(), Json)]),
);

/** What a handler plans for one resource: human-readable changes and the structured operations behind them. */
export const ActionPlan = z.object({
  finding_id: SafeId,
  handler: HandlerName,
  tier: Tier,
  account_id: AccountId,
  region: Region,
  resource_id: ResourceId,
  noop: z.boolean(),
  changes: z.array(z.string()),
  current_state: Json,
  planned_state: Json,
  /** Why a resource is left alone (e.g. a terminated instance); `noop` is then true. */
  skip_reason: z.string().optional(),
  /** Dry-run inspection error (e.g. resource_not_found): the item will fail with it. */
  error: z.string().optional(),
  error_message: z.string().optional(),
  /** sha256 of the planned operations: execute refuses to do anything else (plan binding). */
  plan_hash: z.string(),
});
export type ActionPlan = z.infer<typeof ActionPlan>;

export const ITEM_STATES = ['queued', 'running', 'succeeded', 'noop', 'failed', 'timed_out', 'cancelled'] as const;
export const ItemState = z.enum(ITEM_STATES);
export type ItemState = z.infer<typeof ItemState>;
export const TERMINAL_ITEM_STATES: readonly ItemState[] = ['succeeded', 'noop', 'failed', 'timed_out', 'cancelled'];
export const isTerminal = (s: ItemState): boolean => TERMINAL_ITEM_STATES.includes(s);

/** Item state as the metric and the log line name it (DESIGN.md: success, failed, noop, cancelled, timeout). */
export const METRIC_STATUS: Record<ItemState, string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'success',
  noop: 'noop',
  failed: 'failed',
  timed_out: 'timeout',
  cancelled: 'cancelled',
};

export const BATCH_STATES = ['planned', 'running', 'completed', 'completed_with_failures', 'stopped'] as const;
export const BatchState = z.enum(BATCH_STATES);
export type BatchState = z.infer<typeof BatchState>;

export const ROLLBACK_STATES = ['none', 'rolling_back', 'rolled_back', 'partially_rolled_back', 'failed'] as const;
export const RollbackState = z.enum(ROLLBACK_STATES);
export type RollbackState = z.infer<typeof RollbackState>;

export const BatchId = z.string().regex(/^batch-\d{8}-\d{3,}$/, 'a batch id like batch-20260226-001');
export const SnapshotId = z.string().regex(/^snap-\d{3,}$/, 'a snapshot id like snap-001');

/** The snapshot document of DESIGN.md, written once before any change. */
export const Snapshot = z.object({
  snapshot_id: SnapshotId,
  batch_id: BatchId,
  finding_id: SafeId,
  handler: HandlerName,
  provider: z.literal('aws'),
  account_id: AccountId,
  region: Region,
  resource_id: ResourceId,
  taken_at: z.string(),
  previous_state: Json,
  planned_state: Json,
  changes: z.array(z.string()),
  plan_hash: z.string(),
  change_ticket: z.string().optional(),
  requested_by: z.string().optional(),
});
export type Snapshot = z.infer<typeof Snapshot>;
