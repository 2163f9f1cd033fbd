import { BatchId } from '@aegis/core';
import { AuditEntry, WebhookDelivery } from '@aegis/dispatch';
import { z } from 'zod';

export const AuditQuery = z.object({
  since: z.iso.datetime({ offset: true }).optional().describe('entries at or after this time'),
  batch_id: BatchId.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^\d+-\d+$/, 'a cursor from next_cursor')
    .optional()
    .describe('`next_cursor` of the previous page'),
});

export const AuditPageResponse = z.object({ entries: z.array(AuditEntry), next_cursor: z.string().nullable() });

export const DeliveriesQuery = z.object({ event_id: z.uuid() });
export const DeliveriesResponse = z.object({ event_id: z.string(), deliveries: z.array(WebhookDelivery) });
