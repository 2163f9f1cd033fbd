import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AegisError } from '@aegis/core';
import { SnapshotClient, type SnapshotDoc } from '../src/snapshot-client';

/** A stand-in snapshot service: each test sets how it answers. */
let handler: (req: http.IncomingMessage, body: string, res: http.ServerResponse) => void;
let server: http.Server;
let base: string;
const seen: { method: string; url: string; body: string; socket: unknown }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body, socket: req.socket });
      handler(req, body, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});
beforeEach(() => (seen.length = 0));

const doc = { snapshot_id: 'snap-001', batch_id: 'batch-20261126-001' } as unknown as SnapshotDoc;
const json = (res: http.ServerResponse, status: number, body: unknown) =>
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

describe('SnapshotClient', () => {
  it('posts the document as JSON and reuses one kept-alive connection', async () => {
    handler = (_req, body, res) => json(res, 201, { stored: true, snapshot: JSON.parse(body) as unknown });
    const c = new SnapshotClient(base);
    try {
      expect(await c.store(doc)).toEqual({ stored: true, snapshot: doc });
      expect(await c.store(doc)).toEqual({ stored: true, snapshot: doc });
      expect(seen.map((s) => [s.method, s.url])).toEqual([
        ['POST', '/internal/snapshots'],
        ['POST', '/internal/snapshots'],
      ]);
      expect(JSON.parse(seen[0]?.body ?? '')).toEqual(doc);
      expect(seen[1]?.socket).toBe(seen[0]?.socket);
    } finally {
      c.close();
    }
  });

  it('reads: a 404 is "no snapshot" (null), another status is snapshot_failed with the answer', async () => {
    const c = new SnapshotClient(`${base}/`);
    try {
      handler = (_req, _b, res) => json(res, 404, { error: { code: 'snapshot_not_found' } });
      expect(await c.get('batch-20261126-001', 'snap-009')).toBeNull();
      expect(seen[0]?.url).toBe('/internal/snapshots/batch-20261126-001/snap-009');
      handler = (_req, _b, res) => json(res, 503, { error: { code: 'store_unavailable' } });
      const err = await c.list('batch-20261126-001').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AegisError);
      expect(err).toMatchObject({ code: 'snapshot_failed' });
      expect((err as Error).message).toMatch(/answered 503: .*store_unavailable/);
    } finally {
      c.close();
    }
  });

  it('is snapshot_failed when nothing listens, and when no answer comes within its timeout', async () => {
    const gone = new SnapshotClient('http://127.0.0.1:9');
    await expect(gone.store(doc)).rejects.toMatchObject({ code: 'snapshot_failed' });
    gone.close();
    handler = () => undefined; // never answers
    const slow = new SnapshotClient(base, 200);
    const t0 = Date.now();
    await expect(slow.store(doc)).rejects.toThrow(/unreachable .*no answer within 200 ms/);
    expect(Date.now() - t0).toBeLessThan(5_000);
    slow.close();
  });

  it('gives up at once when the job is aborted (tier timeout, shutdown)', async () => {
    handler = () => undefined;
    const c = new SnapshotClient(base);
    const ac = new AbortController();
    const p = c.store(doc, ac.signal);
    setTimeout(() => ac.abort(new Error('tier timeout')), 50);
    await expect(p).rejects.toThrow(/tier timeout/);
    await expect(c.store(doc, ac.signal)).rejects.toThrow(/tier timeout/);
    c.close();
  });

  it('retries once on a new connection when the service closed the kept-alive one being reused', async () => {
    let n = 0;
    handler = (req, body, res) => {
      n++;
      // The second request arrives on the reused connection: drop it without an answer.
      if (n === 2) return void req.socket.destroy();
      json(res, 201, { stored: true, snapshot: JSON.parse(body) as unknown });
    };
    const c = new SnapshotClient(base);
    try {
      await c.store(doc);
      expect(await c.store(doc)).toMatchObject({ stored: true });
      expect(n).toBe(3);
      expect(seen[2]?.socket).not.toBe(seen[0]?.socket);
    } finally {
      c.close();
    }
  });
});
