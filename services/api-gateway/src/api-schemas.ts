import { AccountId, BatchId, FindingInput, Region, ResourceId, SafeId, SnapshotId, Tier } from '@aegis/core';
import { z } from 'zod';

/** Request schemas of the API: they validate requests and generate the OpenAPI document. */
export const FindingsRequest = z
  .strictObject({
    findings: z
      .array(
        FindingInput.meta({
          id: 'FindingInput',
          description:
            'A finding as a scanner sends it; `handler` names the remediation, `resource_id` must fit it (security group id, bucket name, instance id, IAM user or ARN, account id).',
        }),
      )
      .min(1)
      .max(5000),
  })
  .meta({ id: 'FindingsRequest', description: 'Findings to upsert (by id), 1 to 5000 per call.' });

export const ChangeTicket = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-"');

export const RemediationRequest = z
  .strictObject({
    finding_ids: z
      .array(SafeId)
      .min(1)
      .max(10_000)
      .meta({ description: 'Findings to remediate; to execute, exactly the ids of the dry run.' }),
    dry_run: z.boolean().meta({ description: 'true: plan and preview, change nothing. false: execute a dry run.' }),
    executor_tier: Tier.optional().meta({ description: 'Refuse findings whose handler is not in this tier.' }),
    batch_id: BatchId.optional().meta({ description: 'The dry run to execute: required when dry_run is false.' }),
    change_ticket: ChangeTicket.optional().meta({
      description: 'Change ticket, kept with the batch and its snapshots; required for production accounts.',
    }),
  })
  .superRefine((r, ctx) => {
    if (!r.dry_run && !r.batch_id)
      ctx.addIssue({
        code: 'custom',
        path: ['batch_id'],
        message: 'required to execute: run a dry run first (dry_run:true) and send its batch_id',
      });
  })
  .meta({
    id: 'RemediationRequest',
    description:
      'Dry run `{finding_ids, dry_run:true, executor_tier?}`, then execute `{batch_id, finding_ids, dry_run:false, executor_tier?, change_ticket?}`.',
  });

export const SingleHandlerRequest = z
  .strictObject({
    resource_id: ResourceId.meta({ description: "The resource, of the handler's resource type." }),
    provider: z.literal('aws'),
    region: Region.optional().meta({ description: 'Defaults to the configured region (AWS_REGION, else us-east-1).' }),
    account_id: AccountId.optional().meta({ description: "Defaults to the caller's account (STS)." }),
    dry_run: z.boolean().meta({ description: 'true: plan and preview. false: execute the dry run named by batch_id.' }),
    batch_id: BatchId.optional().meta({
      description: 'The dry run of this same call: required when dry_run is false.',
    }),
    change_ticket: ChangeTicket.optional().meta({ description: 'Required for production accounts.' }),
  })
  .superRefine((r, ctx) => {
    if (!r.dry_run && !r.batch_id)
      ctx.addIssue({
        code: 'custom',
        path: ['batch_id'],
        message: 'required to execute: run this call with dry_run:true first and send its batch_id',
      });
  })
  .meta({ id: 'SingleHandlerRequest', description: 'One resource through one handler, dry run first.' });

export const RollbackRequest = z
  .strictObject({
    snapshot_id: SnapshotId.optional().meta({ description: 'One snapshot; absent: every snapshot of the batch.' }),
    dry_run: z.boolean().meta({ description: 'true: show what would be restored and what stands in the way.' }),
    force: z
      .boolean()
      .optional()
      .meta({ description: 'Roll back even when the resource changed since the remediation (drift).' }),
  })
  .meta({ id: 'RollbackRequest' });

export const EmergencyStopRequest = z
  .strictObject({ reason: z.string().min(1).max(500).meta({ description: 'Why, for the log and the state.' }) })
  .meta({ id: 'EmergencyStopRequest' });

export const ReportQuery = z.strictObject({
  period: z
    .string()
    .regex(/^\d+[mhd]$/, 'a period like 1h, 24h, 7d or 30d')
    .default('7d')
    .meta({ description: 'How far back: minutes, hours or days (outcomes are kept 31 days).' }),
  group_by: z
    .enum(['handler', 'tier'])
    .optional()
    .meta({ description: 'One entry per handler or tier instead of the summary.' }),
});
