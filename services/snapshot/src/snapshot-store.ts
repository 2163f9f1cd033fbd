import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, readFile, readdir, rmdir, stat, unlink } from 'node:fs/promises';
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

async function fsyncFolder(folder: string): Promise<void> {
  const d = await open(folder, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * fsync of folders, shared by the writes that wait on it (group commit): a caller is answered by
 * the first sync of its folder that starts after it asked, so its new entry is on disk when it
 * returns, and ten snapshots linked while one sync runs share the next one.
 */
export class DirSync {
  private readonly running = new Map<string, Promise<void>>();
  private readonly next = new Map<string, Promise<void>>();

  constructor(private readonly syncFolder: (folder: string) => Promise<void> = fsyncFolder) {}

  sync(folder: string): Promise<void> {
    const waiting = this.next.get(folder);
    if (waiting) return waiting;
    const before = this.running.get(folder) ?? Promise.resolve();
    const p = before
      .catch(() => undefined)
      .then(async () => {
        this.next.delete(folder);
        this.running.set(folder, p);
        try {
          await this.syncFolder(folder);
        } finally {
          if (this.running.get(folder) === p) this.running.delete(folder);
        }
      });
    this.next.set(folder, p);
    return p;
  }
}

export class FileSnapshotStore implements SnapshotStore {
  /** Batch folders this process made or found (not made again per snapshot); forgotten when gone. */
  private readonly folders = new Set<string>();
  private readonly dirSync = new DirSync();

  constructor(private readonly dir: string) {}
  get description() {
    return `file://${this.dir}`;
  }

  /**
   * Written in full to a temporary file first, then linked to its name: link(2) fails when the
   * name exists, so a snapshot is never overwritten, and a crash half-way never leaves a partial
   * snapshot under the real name (which would then block the real one forever). Confirmed only
   * once the file and the folder entry are on disk (fsync of both).
   */
  async putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean> {
    const folder = join(this.dir, rel(batchId));
    const tmp = join(folder, `.${snapshotId}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    const fh = await this.openNew(folder, tmp);
    try {
      await fh.write(body);
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
    await this.dirSync.sync(folder);
    return true;
  }

  /** A new file in the batch's folder, making the folder the first time (or again if pruned since). */
  private async openNew(folder: string, file: string): Promise<FileHandle> {
    if (!this.folders.has(folder)) {
      await mkdir(folder, { recursive: true });
      // A bound on the memory: a long-running service sees many batches, each folder needs one mkdir.
      if (this.folders.size >= 10_000) this.folders.clear();
      this.folders.add(folder);
    }
    try {
      return await open(file, 'wx');
    } catch (err) {
      if (errno(err) !== 'ENOENT') throw err;
      // Removed since (retention pruning of an empty folder): make it again.
      this.folders.delete(folder);
      await mkdir(folder, { recursive: true });
      this.folders.add(folder);
      return open(file, 'wx');
    }
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
