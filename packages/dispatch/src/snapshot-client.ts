import http from 'node:http';
import https from 'node:https';
import type { Snapshot } from '@aegis/core';
import { AegisError } from '@aegis/core';
import type { Json } from '@aegis/core';

/** A snapshot as the worker sends it, with the operations rollback needs. */
export type SnapshotDoc = Snapshot & { ops: Json };

export interface StoredSnapshot {
  stored: boolean;
  snapshot: SnapshotDoc;
}

/** An answer of the snapshot service: its status and body text. */
interface Reply {
  status: number;
  text: string;
}

/**
 * The worker's way to the snapshot service, the only writer of the snapshot store. A failure here
 * is `snapshot_failed`: the item fails and nothing is changed. Plain node:http over kept-alive
 * connections (one POST per item: fetch cost the worker about as much CPU as the rest of the
 * item's bookkeeping).
 */
export class SnapshotClient {
  private readonly url: URL;
  private readonly agent: http.Agent;

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {
    this.url = new URL(baseUrl);
    const Agent = this.url.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new Agent({ keepAlive: true, maxSockets: 64 });
  }

  async store(doc: SnapshotDoc, signal?: AbortSignal): Promise<StoredSnapshot> {
    const res = await this.call('POST', '/internal/snapshots', doc, signal);
    return JSON.parse(res.text) as StoredSnapshot;
  }

  async list(batchId: string): Promise<SnapshotDoc[]> {
    const res = await this.call('GET', `/internal/snapshots/${encodeURIComponent(batchId)}`);
    return JSON.parse(res.text) as SnapshotDoc[];
  }

  async get(batchId: string, snapshotId: string): Promise<SnapshotDoc | null> {
    try {
      const res = await this.call(
        'GET',
        `/internal/snapshots/${encodeURIComponent(batchId)}/${encodeURIComponent(snapshotId)}`,
      );
      return JSON.parse(res.text) as SnapshotDoc;
    } catch (err) {
      if (err instanceof AegisError && err.code === 'snapshot_not_found') return null;
      throw err;
    }
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  private async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Reply> {
    let res: Reply;
    try {
      res = await this.send(method, path, body === undefined ? null : JSON.stringify(body), signal);
    } catch (err) {
      throw new AegisError(
        'snapshot_failed',
        `snapshot service unreachable at ${this.baseUrl}: ${(err as Error).message}`,
      );
    }
    if (res.status === 404) throw new AegisError('snapshot_not_found', `no snapshot at ${path}`);
    if (res.status < 200 || res.status > 299)
      throw new AegisError('snapshot_failed', `snapshot service answered ${res.status}: ${res.text.slice(0, 300)}`);
    return res;
  }

  /**
   * One request; rejects on a network error, the timeout, or `signal` aborting (the request is
   * destroyed). A kept-alive connection the service closed just as we reused it is retried once on a
   * new one: every call is safe to repeat (a snapshot is written once; a second write returns it).
   */
  private async send(method: string, path: string, body: string | null, signal?: AbortSignal): Promise<Reply> {
    try {
      return await this.attempt(method, path, body, signal);
    } catch (err) {
      if (!(err as { reusedSocket?: boolean }).reusedSocket || (err as NodeJS.ErrnoException).code !== 'ECONNRESET')
        throw err;
      return this.attempt(method, path, body, signal);
    }
  }

  private attempt(method: string, path: string, body: string | null, signal?: AbortSignal): Promise<Reply> {
    signal?.throwIfAborted();
    const base = this.url.pathname.replace(/\/$/, '');
    const mod = this.url.protocol === 'https:' ? https : http;
    return new Promise<Reply>((resolve, reject) => {
      const headers: http.OutgoingHttpHeaders = {};
      if (body !== null) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(body);
      }
      const req = mod.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path: `${base}${path}`,
          method,
          headers,
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      const onAbort = () => req.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      });
      req.on('error', (err) => reject(Object.assign(err, { reusedSocket: req.reusedSocket })));
      req.end(body ?? undefined);
    });
  }
}
