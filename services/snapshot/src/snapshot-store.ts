import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Where snapshots live: `<store>/remediations/<batch_id>/<snapshot_id>.json`, each written once. */
export interface SnapshotStore {
  readonly description: string;
  /** Write the document unless one exists at that key; returns false (and writes nothing) if it does. */
  putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean>;
  /** The document, or null when there is none. */
  get(batchId: string, snapshotId: string): Promise<string | null>;
  /** The batch's snapshot ids in the order they were taken (snap-001, snap-002, …, snap-1000). */
  list(batchId: string): Promise<string[]>;
  /** Can the store be written now? (readiness) */
  check(): Promise<void>;
}

const SNAP_FILE = /^(snap-\d+)\.json$/;
const rel = (batchId: string, snapshotId?: string) =>
  snapshotId ? `remediations/${batchId}/${snapshotId}.json` : `remediations/${batchId}/`;
/** Numeric, so snap-1000 comes after snap-999. */
const bySeq = (a: string, b: string) => Number(a.slice(5)) - Number(b.slice(5));
const errno = (err: unknown) => (err as NodeJS.ErrnoException).code;

export class FileSnapshotStore implements SnapshotStore {
  constructor(private readonly dir: string) {}
  get description() {
    return `file://${this.dir}`;
  }

  /**
   * Written in full to a temporary file first, then linked to its name: link(2) fails when the
   * name exists, so a snapshot is never overwritten, and a crash half-way never leaves a partial
   * snapshot under the real name (which would then block the real one forever).
   */
  async putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean> {
    const folder = join(this.dir, rel(batchId));
    await mkdir(folder, { recursive: true });
    const tmp = join(folder, `.${snapshotId}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, join(this.dir, rel(batchId, snapshotId)));
    } catch (err) {
      if (errno(err) === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const d = await open(folder, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
    return true;
  }

  async get(batchId: string, snapshotId: string): Promise<string | null> {
    try {
      return await readFile(join(this.dir, rel(batchId, snapshotId)), 'utf8');
    } catch (err) {
      if (errno(err) === 'ENOENT') return null;
      throw err;
    }
  }

  async list(batchId: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, rel(batchId)));
    } catch (err) {
      if (errno(err) === 'ENOENT') return [];
      throw err;
    }
    return names.flatMap((n) => SNAP_FILE.exec(n)?.[1] ?? []).sort(bySeq);
  }

  async check(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const probe = join(this.dir, '.probe');
    const fh = await open(probe, 'w');
    await fh.close();
  }

  /**
   * Audit retention of a folder store: removes snapshots written before `before` (and leftovers
   * of interrupted writes), then empty batch folders. Returns how many snapshots went. An S3
   * store is expired by the bucket's lifecycle rule instead (docs/rollback.md).
   */
  async prune(before: Date): Promise<number> {
    const root = join(this.dir, 'remediations');
    let batches: string[];
    try {
      batches = await readdir(root);
    } catch (err) {
      if (errno(err) === 'ENOENT') return 0;
      throw err;
    }
    let removed = 0;
    for (const b of batches) {
      const folder = join(root, b);
      let names: string[];
      try {
        names = await readdir(folder);
      } catch (err) {
        if (errno(err) === 'ENOTDIR' || errno(err) === 'ENOENT') continue;
        throw err;
      }
      for (const n of names) {
        const snap = SNAP_FILE.test(n);
        if (!snap && !n.endsWith('.tmp')) continue;
        const p = join(folder, n);
        const st = await stat(p).catch(() => null);
        if (!st || st.mtime >= before) continue;
        await unlink(p).catch(() => undefined);
        if (snap) removed++;
      }
      await rmdir(folder).catch(() => undefined);
    }
    return removed;
  }
}

export class S3SnapshotStore implements SnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    /** Keys per listing page; S3's own (1000) unless set. */
    private readonly pageSize?: number,
  ) {}
  get description() {
    return `s3://${this.bucket}/${this.prefix}`;
  }
  private key(r: string) {
    return this.prefix ? `${this.prefix.replace(/\/$/, '')}/${r}` : r;
  }

  /** Needs an S3 with conditional writes (AWS since 2024-08): an endpoint that ignores If-None-Match would overwrite. */
  async putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean> {
    try {
      // Conditional create: S3 answers 412 when the key exists, so nothing is overwritten.
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.key(rel(batchId, snapshotId)),
          Body: body,
          ContentType: 'application/json',
          IfNoneMatch: '*',
        }),
      );
      return true;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) return false;
      throw err;
    }
  }

  async get(batchId: string, snapshotId: string): Promise<string | null> {
    try {
      const out = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.key(rel(batchId, snapshotId)) }),
      );
      return (await out.Body?.transformToString()) ?? null;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      // A missing bucket is a broken store, not a missing snapshot (both are 404).
      if (e.name === 'NoSuchBucket') throw err;
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  async list(batchId: string): Promise<string[]> {
    const base = this.key(rel(batchId));
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: base,
          Delimiter: '/',
          ContinuationToken: token,
          MaxKeys: this.pageSize,
        }),
      );
      for (const o of out.Contents ?? []) {
        const id = SNAP_FILE.exec((o.Key ?? '').slice(base.length))?.[1];
        if (id) ids.push(id);
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return ids.sort(bySeq);
  }

  async check(): Promise<void> {
    await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key('remediations/'), MaxKeys: 1 }),
    );
  }
}
