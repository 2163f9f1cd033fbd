import { Worker, type Job } from 'bullmq';
import { WEBHOOK_QUEUE, signWebhook, type Runtime, type WebhookJob } from '@aegis/dispatch';

const TIMEOUT_MS = 10_000;

/**
 * Delivers events to the configured webhooks (queue `webhooks`, consumed by the gateway): POST of
 * the event JSON signed with `X-Aegis-Signature: sha256=<hmac>`; a non-2xx answer or a network
 * error is retried by BullMQ with exponential backoff. Each attempt updates the delivery status.
 */
export async function startWebhookWorker(rt: Runtime): Promise<{ close(): Promise<void> }> {
  const secret = rt.env.AEGIS_WEBHOOK_SECRET ?? '';
  const processor = async (job: Job<WebhookJob>): Promise<number> => {
    const { event, url } = job.data;
    const body = JSON.stringify(event);
    const attempts = job.attemptsMade + 1;
    const last = job.opts.attempts ?? 1;
    let status: number | null = null;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'cloud-aegis-webhooks',
          'x-aegis-event': event.type,
          'x-aegis-event-id': event.id,
          ...(secret ? { 'x-aegis-signature': signWebhook(secret, body) } : {}),
        },
        body,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      status = res.status;
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    } catch (err) {
      await rt.events.setDelivery({
        event_id: event.id,
        url,
        state: attempts >= last ? 'failed' : 'retrying',
        attempts,
        last_status: status,
        last_error: (err as Error).message,
        updated_at: new Date().toISOString(),
      });
      throw err;
    }
    await rt.events.setDelivery({
      event_id: event.id,
      url,
      state: 'delivered',
      attempts,
      last_status: status,
      last_error: null,
      updated_at: new Date().toISOString(),
    });
    return status;
  };
  const worker = new Worker<WebhookJob>(WEBHOOK_QUEUE, processor, {
    connection: rt.bullConnection,
    prefix: rt.env.AEGIS_QUEUE_PREFIX,
    concurrency: 5,
  });
  worker.on('error', (err) => rt.log.error({ err: err.message }, 'webhook worker error'));
  worker.on('failed', (job, err) =>
    rt.log.warn(
      { event_id: job?.data.event.id, event_type: job?.data.event.type, attempt: job?.attemptsMade, err: err.message },
      'webhook delivery failed',
    ),
  );
  await worker.waitUntilReady();
  return { close: () => worker.close() };
}
