import { AccountId, BatchId, FindingInput, Region, ResourceId, SafeId, SnapshotId, Tier } from '@aegis/core';
import { z } from 'zod';

/** Request schemas of the API: they validate requests and generate the OpenAPI document. */
export const FindingsRequest = z.strictObject({ findings: z.array(FindingInput).min(1).max(5000) });

export const ChangeTicket = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-"');

export const RemediationRequest = z
  .strictObject({
    finding_ids: z.array(SafeId).min(1).max(10_000),
    dry_run: z.boolean(),
    executor_tier: Tier.optional(),
    batch_id: BatchId.optional(),
    change_ticket: ChangeTicket.optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.dry_run && !r.batch_id)
      ctx.addIssue({
        code: 'custom',
        path: ['batch_id'],
        message: 'required to execute: run a dry run first (dry_run:true) and send its batch_id',
      });
  });

export const SingleHandlerRequest = z
  .strictObject({
    resource_id: ResourceId,
    provider: z.literal('aws'),
    region: Region.optional(),
    account_id: AccountId.optional(),
    dry_run: z.boolean(),
    batch_id: BatchId.optional(),
    change_ticket: ChangeTicket.optional(),
  })
  .superRefine((r, ctx) => {
    if (!r.dry_run && !r.batch_id)
      ctx.addIssue({
        code: 'custom',
        path: ['batch_id'],
        message: 'required to execute: run this call with dry_run:true first and send its batch_id',
      });
  });

export const RollbackRequest = z.strictObject({
  snapshot_id: SnapshotId.optional(),
  dry_run: z.boolean(),
  force: z.boolean().optional(),
});

export const EmergencyStopRequest = z.strictObject({ reason: z.string().min(1).max(500) });

export const ReportQuery = z.strictObject({
  period: z
    .string()
    .regex(/^\d+[mhd]$/, 'a period like 1h, 24h, 7d or 30d')
    .default('7d'),
  group_by: z.enum(['handler', 'tier']).optional(),
});
