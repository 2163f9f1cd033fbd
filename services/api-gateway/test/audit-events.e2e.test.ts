import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { startStack, type Stack } from '@aegis/testkit';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { ec2, ingest, openGroup, waitBatch } from './sandbox-helpers';

const SECRET = 'e2e-webhook-secret-0123456789';

interface Received {
  body: string;
  signature: string;
  event: { id: string; type: string; data: Record<string, unknown> };
}

/** A webhook receiver on loopback; answers 500 to its first `failFirst` requests. */
async function receiver(
  failFirst: number,
): Promise<{ server: Server; url: string; got: Received[]; calls: () => number }> {
  const got: Received[] = [];
  let calls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls++;
      if (calls <= failFirst) return void res.writeHead(500).end();
      got.push({
        body,
        signature: String(req.headers['x-aegis-signature'] ?? ''),
        event: JSON.parse(body) as Received['event'],
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, calls: () => calls };
}

function verifies(r: Received): boolean {
  const want = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`);
  const have = Buffer.from(r.signature);
  return want.length === have.length && timingSafeEqual(want, have);
}

async function until<T>(f: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface AuditEntry {
  id: string;
  at: string;
  actor: string;
  action: string;
  batch_id: string | null;
  finding_ids: string[];
  change_ticket: string | null;
  outcome: string;
  http_status: number | null;
}

describe('audit trail, event stream and webhooks', () => {
  let stack: Stack;
  let client: EC2Client;
  let redis: Redis;
  let ok: Awaited<ReturnType<typeof receiver>>;
  let flaky: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    ok = await receiver(0);
    flaky = await receiver(2);
    stack = await startStack({
      env: { AEGIS_WEBHOOK_URLS: `${ok.url},${flaky.url}`, AEGIS_WEBHOOK_SECRET: SECRET },
    });
    client = ec2(stack);
    redis = new Redis(stack.redisUrl);
    // A consumer group created before anything happens sees every event of the session.
    await redis.xgroup('CREATE', 'aegis:events', 'scanner', '$', 'MKSTREAM');
  });
  afterAll(async () => {
    client?.destroy();
    redis?.disconnect();
    await stack?.stop();
    ok?.server.close();
    flaky?.server.close();
  });

  it('records a scripted session in order, publishes each event once, and delivers signed webhooks', async () => {
    const since = new Date().toISOString();
    const g1 = await openGroup(client);
    const g2 = await openGroup(client);
    await ingest(stack, [
      { id: 'au-1', handler: 'block-public-ssh', resource_id: g1 },
      { id: 'au-2', handler: 'block-public-ssh', resource_id: g2 },
    ]);
    const ids = ['au-1', 'au-2'];
    const dry = await stack.api('POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true });
    const batchId = (dry.body as { batch_id: string }).batch_id;
    const ex = await stack.api('POST', '/api/v1/remediations', {
      batch_id: batchId,
      finding_ids: ids,
      dry_run: false,
      change_ticket: 'CHG-1234',
    });
    expect(ex.status).toBe(202);
    expect((await waitBatch(stack, batchId)).status).toBe('completed');
    expect((await stack.api('POST', '/api/v1/emergency-stop', { reason: 'audit drill' })).status).toBe(200);
    expect((await stack.api('DELETE', '/api/v1/emergency-stop')).status).toBe(200);
    const rb = await stack.api('POST', `/api/v1/remediations/${batchId}/rollback`, { dry_run: false });
    expect(rb.status).toBeLessThan(300);

    const audit = await until(async () => {
      const r = await stack.api('GET', `/api/v1/audit?since=${encodeURIComponent(since)}&limit=2`);
      expect(r.status).toBe(200);
      // Page through it two at a time.
      const all: AuditEntry[] = [];
      let page = r.body as { entries: AuditEntry[]; next_cursor: string | null };
      for (;;) {
        all.push(...page.entries);
        if (!page.next_cursor) break;
        page = (await stack.api('GET', `/api/v1/audit?limit=2&cursor=${page.next_cursor}`)).body as typeof page;
      }
      return all.filter((e) => e.action === 'rollback_completed').length === 2 ? all : undefined;
    }, 'the rollback outcomes in the audit');
    expect(audit.map((e) => e.action)).toEqual([
      'dry_run',
      'execute',
      'batch_completed',
      'emergency_stop',
      'resume',
      'rollback',
      'rollback_completed',
      'rollback_completed',
    ]);
    expect(audit.map((e) => e.id)).toEqual([...audit.map((e) => e.id)].sort((a, b) => (a < b ? -1 : 1)));
    expect(audit[0]).toMatchObject({ actor: 'dev', batch_id: batchId, finding_ids: ids, outcome: 'planned' });
    expect(audit[1]).toMatchObject({
      batch_id: batchId,
      change_ticket: 'CHG-1234',
      outcome: 'running',
      http_status: 202,
    });
    expect(audit[2]).toMatchObject({
      actor: 'system',
      batch_id: batchId,
      outcome: 'completed',
      change_ticket: 'CHG-1234',
    });
    expect(audit[3]).toMatchObject({ action: 'emergency_stop', http_status: 200 });
    expect(audit[6]).toMatchObject({ batch_id: batchId, outcome: 'rolled_back' });
    const byBatch = (await stack.api('GET', `/api/v1/audit?batch_id=${batchId}`)).body as { entries: AuditEntry[] };
    expect(byBatch.entries.map((e) => e.action)).not.toContain('emergency_stop');
    // A refused request is recorded too, and no token ever appears.
    const refused = await stack.api('POST', '/api/v1/remediations', {
      batch_id: batchId,
      finding_ids: ids,
      dry_run: false,
    });
    expect(refused.status).toBe(409);
    const all = await stack.api('GET', `/api/v1/audit?since=${encodeURIComponent(since)}&limit=1000`);
    const last = (all.body as { entries: AuditEntry[] }).entries.at(-1);
    expect(last).toMatchObject({ action: 'execute', outcome: 'already_executed', http_status: 409 });
    expect(all.text).not.toContain(stack.token);
    expect(await redis.xlen('aegis:audit')).toBeGreaterThanOrEqual(9);

    // The consumer group gets each event once.
    const events = await until(async () => {
      const got: { id: string; type: string; data: Record<string, unknown> }[] = [];
      for (;;) {
        const r = (await redis.xreadgroup('GROUP', 'scanner', 'c1', 'COUNT', 100, 'STREAMS', 'aegis:events', '>')) as
          [string, [string, string[]][]][] | null;
        const entries = r?.[0]?.[1] ?? [];
        if (!entries.length) break;
        for (const [sid, fields] of entries) {
          got.push(JSON.parse(fields[1] as string) as (typeof got)[number]);
          await redis.xack('aegis:events', 'scanner', sid);
        }
      }
      return got;
    }, 'events');
    const seen = [...events];
    await until(async () => {
      const more = (await redis.xreadgroup('GROUP', 'scanner', 'c1', 'COUNT', 100, 'STREAMS', 'aegis:events', '>')) as
        [string, [string, string[]][]][] | null;
      for (const [sid, fields] of more?.[0]?.[1] ?? []) {
        seen.push(JSON.parse(fields[1] as string) as (typeof seen)[number]);
        await redis.xack('aegis:events', 'scanner', sid);
      }
      return seen.filter((e) => e.type === 'rollback.completed').length >= 2 ? true : undefined;
    }, 'rollback events');
    expect(seen.map((e) => e.type)).toEqual([
      'batch.completed',
      'dispatcher.stopped',
      'dispatcher.resumed',
      'rollback.completed',
      'rollback.completed',
    ]);
    expect(new Set(seen.map((e) => e.id)).size).toBe(seen.length);
    expect(seen[0]?.data).toMatchObject({ batch_id: batchId, status: 'completed', finding_ids: ids });
    const pending = (await redis.xpending('aegis:events', 'scanner')) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);

    // Both receivers get every event, signed; the flaky one after two failures.
    await until(async () => (ok.got.length >= 5 && flaky.got.length >= 5 ? true : undefined), 'webhook deliveries');
    for (const r of [...ok.got, ...flaky.got]) expect(verifies(r)).toBe(true);
    expect(new Set(ok.got.map((r) => r.event.id))).toEqual(new Set(seen.map((e) => e.id)));
    expect(new Set(flaky.got.map((r) => r.event.id))).toEqual(new Set(seen.map((e) => e.id)));
    expect(flaky.calls()).toBe(flaky.got.length + 2);
    const first = flaky.got.find((r) => flaky.got.indexOf(r) === 0)?.event.id;
    const d = await stack.api('GET', `/api/v1/events/deliveries?event_id=${first}`);
    expect(d.status).toBe(200);
    const deliveries = (d.body as { deliveries: { url: string; state: string; attempts: number }[] }).deliveries;
    expect(deliveries.map((x) => x.state)).toEqual(['delivered', 'delivered']);
  });
});
