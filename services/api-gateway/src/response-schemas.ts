import { ActionPlan, BatchState, Finding, HandlerName, ITEM_STATES, ItemState, RollbackState, Tier } from '@aegis/core';
import { ROLLBACK_ITEM_STATES } from '@aegis/dispatch';
import { z } from 'zod';

/*
 * The answers of the API, as the routes build them (routes/*.ts, remediation-service.ts, report.ts).
 * They feed the OpenAPI document; the observability E2E test parses real answers with them, so a
 * route that changes its answer without this file fails there. Plain (not strict) objects: a client
 * must accept fields added later.
 */

const timestamp = (description: string) => z.string().meta({ description, format: 'date-time' });
const nullableTimestamp = (description: string) => z.string().nullable().meta({ description, format: 'date-time' });
const count = (description: string) => z.number().int().min(0).meta({ description });

/** A handler's state document (security group rules, bucket configuration, …): any JSON value. */
const JsonValue = z.unknown().meta({ description: 'A JSON document whose shape depends on the handler.' });

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().meta({
        description:
          'Stable machine-readable code: validation_failed, invalid_json, unsupported_media_type, unauthorized, forbidden, unknown_finding(s), unknown_batch, unknown_handler, unknown_snapshot, plan_mismatch, plan_expired, already_executed, rollback_refused, …',
        example: 'validation_failed',
      }),
      message: z.string().meta({ description: 'What went wrong and how to fix it, for a human.' }),
      details: z.unknown().optional().meta({
        description:
          'Structured facts about the error. For validation_failed: a list of {field, message}; for forbidden: {missing_scope}.',
      }),
    }),
  })
  .meta({ id: 'Error', description: 'Every error answer (never a stack trace).' });

export const FindingsAccepted = z
  .object({
    accepted: count('Findings in the request, all stored.'),
    created: count('Findings that were new.'),
    updated: count('Findings that existed and were replaced (status and history kept).'),
    ids: z.array(z.string()).meta({ description: 'The finding ids, in request order.' }),
  })
  .meta({ id: 'FindingsAccepted' });

export const FindingResponse = z.object(Finding.shape).meta({
  id: 'Finding',
  description: 'A stored finding with its remediation status and dependencies.',
});

export const ActionPreview = ActionPlan.omit({ plan_hash: true })
  .extend({ current_state: JsonValue, planned_state: JsonValue })
  .meta({
    id: 'ActionPreview',
    description:
      'What the dry run plans for one finding: noop (already compliant or skipped) or the human-readable changes, with the inspected and planned state.',
  });

export const DryRunResponse = z
  .object({
    batch_id: z.string().meta({ example: 'batch-20260226-001', description: 'Send it back to execute this plan.' }),
    status: z.literal('planned'),
    dry_run: z.literal(true),
    actions_preview: z.array(ActionPreview),
    estimated_duration_s: z.number().min(0).meta({ description: 'Rough wall time of the batch at tier concurrency.' }),
    expires_at: timestamp('After this the plan can no longer be executed (AEGIS_PLAN_TTL, default 24 h).'),
  })
  .meta({ id: 'DryRunResponse' });

export const ExecuteResponse = z
  .object({
    batch_id: z.string().meta({ example: 'batch-20260226-001' }),
    status: z.literal('running'),
    started_at: timestamp('When the items were enqueued (the T1 SLA counts from here).'),
    items: count('Items enqueued.'),
    dispatcher_paused: z.boolean().meta({ description: 'True while the emergency stop holds: items wait for resume.' }),
    message: z.string().optional().meta({ description: 'Present when the dispatcher is stopped.' }),
  })
  .meta({ id: 'ExecuteResponse', description: 'The batch was accepted and its items queued (202).' });

export const SingleHandlerDryRunResponse = DryRunResponse.extend({
  finding_id: z.string().meta({ description: 'The finding made for this resource (h-<hash>).' }),
  handler: HandlerName,
  resource_id: z.string(),
  region: z.string(),
  account_id: z.string(),
}).meta({ id: 'SingleHandlerDryRunResponse' });

export const ItemCounts = z
  .object({
    queued: count('Items waiting in their tier queue.'),
    running: count('Items being processed.'),
    succeeded: count('Items changed and verified.'),
    noop: count('Items already compliant (or skipped).'),
    failed: count('Items failed.'),
    timed_out: count('Items stopped by the tier timeout.'),
    cancelled: count('Items cancelled (batch stopped).'),
  } satisfies Record<ItemState, z.ZodType>)
  .meta({ id: 'ItemCounts' });

export const RollbackRecord = z
  .object({
    snapshot_id: z.string(),
    finding_id: z.string(),
    handler: z.string(),
    resource_id: z.string(),
    state: z.enum(ROLLBACK_ITEM_STATES),
    error: z.string().optional(),
    message: z.string().optional(),
    requested_at: timestamp('When the rollback was requested.'),
    finished_at: timestamp('When the rollback ended.').optional(),
  })
  .meta({ id: 'RollbackRecord', description: 'The rollback of one snapshot.' });

export const BatchItem = z
  .object({
    finding_id: z.string(),
    handler: HandlerName,
    tier: Tier,
    resource_id: z.string(),
    account_id: z.string(),
    region: z.string(),
    state: z.enum([...ITEM_STATES, 'planned']).meta({ description: '`planned` until the batch is executed.' }),
    noop_planned: z.boolean(),
    changes: z.array(z.string()),
    error: z.string().nullable().meta({ description: 'The error code: an AWS code (AccessDenied, …) or ours.' }),
    error_message: z.string().nullable(),
    detail: z.string().nullable(),
    attempts: count('Runs of the item (a crash or conflict may run it again).'),
    snapshot_id: z.string().nullable(),
    enqueued_at: nullableTimestamp('When the item was queued.'),
    started_at: nullableTimestamp('When the item first started.'),
    finished_at: nullableTimestamp('When the item reached its outcome.'),
    duration_ms: z.number().nullable().meta({ description: 'From first start to outcome.' }),
  })
  .meta({ id: 'BatchItem' });

export const BatchStatusResponse = z
  .object({
    batch_id: z.string(),
    status: BatchState,
    completed: count('Items succeeded or noop.'),
    failed: count('Items failed or timed out.'),
    pending: count('Items queued or running (all items before execute).'),
    cancelled: count('Items cancelled (batch stopped).'),
    counts: ItemCounts,
    elapsed_s: z.number().min(0),
    created_at: timestamp('When the dry run was made.'),
    started_at: nullableTimestamp('When the batch was executed.'),
    finished_at: nullableTimestamp('When the last item ended.'),
    executor_tier: Tier.nullable(),
    change_ticket: z.string().nullable(),
    requested_by: z.string().meta({ description: 'Name of the token that made the dry run.' }),
    stop_reason: z.string().nullable().meta({ description: 'Why the batch stopped itself (failure breaker).' }),
    stop_figures: z.unknown().meta({
      description:
        "The breaker's figures when it stopped the batch ({failed, finished, failure_pct, threshold_pct}), else null.",
    }),
    estimated_duration_s: z.number().min(0),
    rollback_status: RollbackState,
    rollbacks: z.array(RollbackRecord),
    items: z.array(BatchItem),
  })
  .meta({ id: 'BatchStatus' });

export const SnapshotEntry = z
  .object({
    snapshot_id: z.string().meta({ example: 'snap-001' }),
    resource_id: z.string(),
    handler: HandlerName,
    taken_at: timestamp('When the state was captured, before the change.'),
    finding_id: z.string(),
    expires_at: timestamp('End of the rollback window (AEGIS_ROLLBACK_WINDOW, default 48 h).'),
  })
  .meta({ id: 'SnapshotEntry' });

export const SnapshotList = z.array(SnapshotEntry).meta({ id: 'SnapshotList' });

const Refusal = z.object({
  code: z.string().meta({
    description:
      'outside_window, irreversible, drifted, already_rolled_back, rollback_running, resource_not_found, or an AWS code',
  }),
  message: z.string(),
});

export const RollbackAssessment = z
  .object({
    snapshot_id: z.string(),
    finding_id: z.string(),
    resource_id: z.string(),
    handler: HandlerName,
    taken_at: timestamp('When the snapshot was taken.'),
    expires_at: timestamp('End of the rollback window.'),
    current_state: JsonValue,
    restore_state: JsonValue,
    changes: z.array(z.string()),
    drift: z.string().nullable().meta({ description: 'How the resource changed since the remediation, if it did.' }),
    refused: Refusal.optional().meta({ description: 'Present when this snapshot will not be rolled back.' }),
  })
  .meta({ id: 'RollbackAssessment' });

export const RollbackDryRunResponse = z
  .object({
    batch_id: z.string(),
    dry_run: z.literal(true),
    force: z.boolean(),
    rollbacks: z.array(RollbackAssessment),
  })
  .meta({ id: 'RollbackDryRunResponse' });

export const RollbackAccepted = z
  .object({
    batch_id: z.string(),
    dry_run: z.literal(false),
    rollback_status: z.literal('rolling_back'),
    accepted: z.array(z.string()).meta({ description: 'Snapshot ids queued for rollback.' }),
    refused: z.array(
      Refusal.extend({ snapshot_id: z.string(), resource_id: z.string(), handler: HandlerName }).meta({
        description: 'A snapshot left alone, and why.',
      }),
    ),
  })
  .meta({ id: 'RollbackAccepted', description: 'Rollbacks queued (202); follow rollback_status on the batch.' });

const figures = {
  total: count('Items that finished (succeeded, noop, failed, timed out); cancelled items are not counted.'),
  succeeded: count('Items succeeded or noop.'),
  failed: count('Items failed or timed out.'),
  cancelled: count('Items cancelled (batch stopped).'),
  success_rate: z
    .number()
    .min(0)
    .max(1)
    .meta({ description: 'succeeded / total, a fraction 0..1 (0 when total is 0).' }),
  avg_duration_s: z.number().min(0).meta({ description: 'Mean time from first start to outcome.' }),
};

export const ReportSummary = z
  .object({
    period: z.string().meta({ example: '7d' }),
    ...figures,
    sla_compliance_pct: z.number().min(0).max(100).meta({
      description:
        'Share (0..100) of T1 items in the period that succeeded within 300 s of being enqueued; 100 when the period has no T1 item.',
    }),
    sla_items: count('T1 items the SLA figure is computed over.'),
    sla_target_s: z.number().meta({ description: 'The T1 SLA: 300 s from enqueue to success.' }),
  })
  .meta({ id: 'ReportSummary' });

export const ReportGroup = z
  .object({
    handler: HandlerName.optional().meta({ description: 'With group_by=handler.' }),
    tier: Tier.optional().meta({ description: 'With group_by=tier.' }),
    ...figures,
  })
  .meta({ id: 'ReportGroup' });

export const ReportResponse = z.union([ReportSummary, z.array(ReportGroup)]).meta({
  description: 'The summary, or with group_by one entry per handler or tier (sorted by name).',
});

const TierLoad = z.object({
  active: count('Jobs running now.'),
  waiting: count('Jobs waiting (incl. prioritized).'),
  delayed: count('Jobs delayed (retry back-off, requeued during a stop).'),
});

export const EmergencyStopState = z
  .object({
    paused: z.boolean(),
    stopped: z.boolean().meta({ description: 'Same as paused.' }),
    reason: z.string().optional(),
    stopped_by: z.string().optional().meta({ description: 'Name of the token that stopped the dispatcher.' }),
    stopped_at: timestamp('When the stop began.').optional(),
    in_flight: z.object({ T1: TierLoad, T2: TierLoad, T3: TierLoad }),
  })
  .meta({ id: 'EmergencyStopState' });

export const HandlerInfo = z
  .object({
    name: HandlerName,
    tier: Tier,
    description: z.string(),
    resource_type: z.string(),
    iam_actions: z.array(z.string()).meta({ description: 'IAM actions the workers need for this handler.' }),
    reversible: z.boolean(),
    irreversible_reason: z.string().optional(),
  })
  .meta({ id: 'HandlerInfo' });

export const HandlersResponse = z.object({ handlers: z.array(HandlerInfo) }).meta({ id: 'HandlersResponse' });

export const HealthResponse = z.object({ status: z.literal('ok') });
export const ReadyResponse = z.object({ status: z.enum(['ready', 'not_ready']), redis: z.boolean() });
