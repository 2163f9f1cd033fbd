import type { Snapshot } from '@aegis/core';
import { AegisError } from '@aegis/core';
import type { Json } from '@aegis/core';

/** A snapshot as the worker sends it, with the operations rollback needs. */
export type SnapshotDoc = Snapshot & { ops: Json };

export interface StoredSnapshot {
  stored: boolean;
  snapshot: SnapshotDoc;
}

/**
 * The worker's way to the snapshot service, the only writer of the snapshot store. A failure here
 * is `snapshot_failed`: the item fails and nothing is changed.
 */
export class SnapshotClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs = 15_000,
  ) {}

  async store(doc: SnapshotDoc, signal?: AbortSignal): Promise<StoredSnapshot> {
    const res = await this.call('POST', '/internal/snapshots', doc, signal);
    return (await res.json()) as StoredSnapshot;
  }

  async list(batchId: string): Promise<SnapshotDoc[]> {
    const res = await this.call('GET', `/internal/snapshots/${encodeURIComponent(batchId)}`);
    return (await res.json()) as SnapshotDoc[];
  }

  async get(batchId: string, snapshotId: string): Promise<SnapshotDoc | null> {
    try {
      const res = await this.call(
        'GET',
        `/internal/snapshots/${encodeURIComponent(batchId)}/${encodeURIComponent(snapshotId)}`,
      );
      return (await res.json()) as SnapshotDoc;
    } catch (err) {
      if (err instanceof AegisError && err.code === 'snapshot_not_found') return null;
      throw err;
    }
  }

  private async call(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new AegisError(
        'snapshot_failed',
        `snapshot service unreachable at ${this.baseUrl}: ${(err as Error).message}`,
      );
    }
    if (res.status === 404) throw new AegisError('snapshot_not_found', `no snapshot at ${path}`);
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new AegisError('snapshot_failed', `snapshot service answered ${res.status}: ${text.slice(0, 300)}`);
    }
    return res;
  }
}
