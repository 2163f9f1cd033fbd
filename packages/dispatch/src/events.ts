import { createHmac, randomUUID } from 'node:crypto';
import { QUEUE_NAMES, type ItemState, type Logger, type RedisClient } from '@aegis/core';
import type { AuditLog } from './audit';
import type { ItemRecord } from './records';
import type { StateStore } from './state-store';
import { Queue, type ConnectionOptions } from 'bullmq';
import { z } from 'zod';

const Counts = z.object({
  succeeded: z.number().int(),
  noop: z.number().int(),
  failed: z.number().int(),
  timed_out: z.number().int(),
  cancelled: z.number().int(),
});

const base = { id: z.uuid(), occurred_at: z.iso.datetime() };

/** What the dispatcher tells other services (Redis stream `<prefix>:events`, and webhooks). */
export const AegisEvent = z.discriminatedUnion('type', [
  z.object({
    ...base,
    type: z.literal('batch.completed'),
    data: z.object({
      batch_id: z.string(),
      status: z.enum(['completed', 'completed_with_failures', 'stopped']),
      finding_ids: z.array(z.string()).describe('every finding of the batch: re-scan these'),
      counts: Counts,
      change_ticket: z.string().nullable(),
      requested_by: z.string().nullable(),
    }),
  }),
  z.object({
    ...base,
    type: z.literal('item.failed'),
    data: z.object({
      batch_id: z.string(),
      finding_id: z.string(),
      handler: z.string(),
      account_id: z.string(),
      region: z.string(),
      resource_id: z.string(),
      state: z.enum(['failed', 'timed_out']),
      error: z.string().nullable(),
    }),
  }),
  z.object({
    ...base,
    type: z.literal('rollback.completed'),
    data: z.object({
      batch_id: z.string(),
      snapshot_id: z.string(),
      state: z.string().describe('the rollback record state: `succeeded`, `failed`, …'),
      requested_by: z.string().nullable(),
    }),
  }),
  z.object({
    ...base,
    type: z.literal('finding.regressed'),
    data: z.object({ batch_id: z.string(), finding_id: z.string(), handler: z.string(), resource_id: z.string() }),
  }),
  z.object({
    ...base,
    type: z.literal('dispatcher.stopped'),
    data: z.object({ reason: z.string(), by: z.string() }),
  }),
  z.object({ ...base, type: z.literal('dispatcher.resumed'), data: z.object({ by: z.string() }) }),
]);
export type AegisEvent = z.infer<typeof AegisEvent>;
export type AegisEventType = AegisEvent['type'];
type DataOf<T extends AegisEventType> = Extract<AegisEvent, { type: T }>['data'];

export const WEBHOOK_QUEUE = QUEUE_NAMES.webhooks;
export interface WebhookJob {
  event: AegisEvent;
  url: string;
}

export const WebhookDelivery = z.object({
  event_id: z.string(),
  url: z.string(),
  state: z.enum(['pending', 'retrying', 'delivered', 'failed']),
  attempts: z.number().int(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  updated_at: z.iso.datetime(),
});
export type WebhookDelivery = z.infer<typeof WebhookDelivery>;

/** `X-Aegis-Signature: sha256=<hex>` of the exact body bytes. */
export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

const DELIVERY_TTL_S = 30 * 86_400;
const STREAM_MAXLEN = 1_000_000;

/**
 * Publishes events: XADD to `<prefix>:events` (consumers read it with consumer groups) and one
 * `webhooks` job per configured URL. `once` keys make an event that several code paths (or a
 * redelivered job) may raise go out a single time.
 */
export class EventBus {
  readonly streamKey: string;
  private queue: Queue<WebhookJob> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly webhooks: { urls: readonly string[]; connection: ConnectionOptions },
  ) {
    this.streamKey = `${prefix}:events`;
  }

  async publish<T extends AegisEventType>(type: T, data: DataOf<T>, once?: string): Promise<AegisEvent | null> {
    if (once && (await this.redis.hsetnx(`${this.prefix}:events:once`, once, '1')) === 0) return null;
    const event = AegisEvent.parse({ id: randomUUID(), occurred_at: new Date().toISOString(), type, data });
    await this.redis.xadd(this.streamKey, 'MAXLEN', '~', String(STREAM_MAXLEN), '*', 'event', JSON.stringify(event));
    if (this.webhooks.urls.length) {
      // Pending first: a fast delivery must not be overwritten by it.
      for (const url of this.webhooks.urls)
        await this.setDelivery({
          event_id: event.id,
          url,
          state: 'pending',
          attempts: 0,
          last_status: null,
          last_error: null,
          updated_at: new Date().toISOString(),
        });
      this.queue ??= new Queue<WebhookJob>(WEBHOOK_QUEUE, {
        connection: this.webhooks.connection,
        prefix: this.prefix,
      });
      await this.queue.addBulk(
        this.webhooks.urls.map((url, i) => ({
          name: event.type,
          data: { event, url },
          opts: {
            jobId: `${event.id}__${i}`,
            attempts: 8,
            backoff: { type: 'exponential', delay: 500 },
            removeOnComplete: { age: 86_400 },
            removeOnFail: { age: 7 * 86_400 },
          },
        })),
      );
    }
    return event;
  }

  async setDelivery(d: WebhookDelivery): Promise<void> {
    const key = `${this.prefix}:webhook:${d.event_id}`;
    await this.redis.hset(key, d.url, JSON.stringify(d));
    await this.redis.expire(key, DELIVERY_TTL_S);
  }

  async deliveries(eventId: string): Promise<WebhookDelivery[]> {
    const all = await this.redis.hgetall(`${this.prefix}:webhook:${eventId}`);
    return Object.values(all).map((v) => JSON.parse(v) as WebhookDelivery);
  }

  async close(): Promise<void> {
    await this.queue?.close();
  }
}

export interface AnnounceDeps {
  store: StateStore;
  events: EventBus;
  audit: AuditLog;
  log: Logger;
}

/**
 * After an item's outcome is recorded: `item.failed` for a failure, and once the batch has
 * finished (completed, completed_with_failures, or stopped with nothing left running) a single
 * `batch.completed` carrying every finding id, plus its audit record. Never fails the item.
 */
export async function announceItemFinished(
  deps: AnnounceDeps,
  item: ItemRecord,
  state: ItemState,
  error: string | null,
  /** The batch's status right after the item's outcome (absent: read it); a running batch has no completion to announce. */
  batchStatus?: string,
): Promise<void> {
  try {
    if (state === 'failed' || state === 'timed_out') {
      await deps.events.publish('item.failed', {
        batch_id: item.batch_id,
        finding_id: item.finding_id,
        handler: item.handler,
        account_id: item.account_id,
        region: item.region,
        resource_id: item.resource_id,
        state,
        error,
      });
    }
    if (batchStatus !== 'running') await announceBatchIfFinished(deps, item.batch_id);
  } catch (err) {
    deps.log.warn(
      { batch_id: item.batch_id, finding_id: item.finding_id, err: (err as Error).message },
      'event not published',
    );
  }
}

export async function announceBatchIfFinished(deps: AnnounceDeps, batchId: string): Promise<void> {
  const meta = await deps.store.getMeta(batchId);
  if (!meta?.finished_at) return;
  if (meta.status !== 'completed' && meta.status !== 'completed_with_failures' && meta.status !== 'stopped') return;
  const header = await deps.store.getHeader(batchId);
  const c = await deps.store.getCounts(batchId);
  const sent = await deps.events.publish(
    'batch.completed',
    {
      batch_id: batchId,
      status: meta.status,
      finding_ids: header?.finding_ids ?? [],
      counts: {
        succeeded: c.succeeded,
        noop: c.noop,
        failed: c.failed,
        timed_out: c.timed_out,
        cancelled: c.cancelled,
      },
      change_ticket: meta.change_ticket ?? null,
      requested_by: meta.executed_by ?? header?.requested_by ?? null,
    },
    `batch.completed:${batchId}`,
  );
  if (!sent) return;
  await deps.audit.record({
    actor: 'system',
    action: 'batch_completed',
    batch_id: batchId,
    finding_ids: header?.finding_ids ?? [],
    change_ticket: meta.change_ticket ?? null,
    outcome: meta.status,
    detail: `succeeded ${c.succeeded}, noop ${c.noop}, failed ${c.failed + c.timed_out}, cancelled ${c.cancelled}${meta.stop_reason ? `; ${meta.stop_reason}` : ''}`,
  });
}

/** A rollback reached its final state (rolled back or failed): one event and one audit record. */
export async function announceRollback(
  deps: AnnounceDeps,
  r: { batch_id: string; snapshot_id: string; state: string; requested_by: string | null; error?: string | null },
): Promise<void> {
  if (r.state !== 'rolled_back' && r.state !== 'failed') return;
  try {
    const sent = await deps.events.publish(
      'rollback.completed',
      { batch_id: r.batch_id, snapshot_id: r.snapshot_id, state: r.state, requested_by: r.requested_by },
      `rollback.completed:${r.batch_id}:${r.snapshot_id}`,
    );
    if (!sent) return;
    await deps.audit.record({
      actor: 'system',
      action: 'rollback_completed',
      batch_id: r.batch_id,
      snapshot_id: r.snapshot_id,
      outcome: r.state,
      detail: r.requested_by ? `requested by ${r.requested_by}${r.error ? `; ${r.error}` : ''}` : (r.error ?? null),
    });
  } catch (err) {
    deps.log.warn(
      { batch_id: r.batch_id, snapshot_id: r.snapshot_id, err: (err as Error).message },
      'event not published',
    );
  }
}
