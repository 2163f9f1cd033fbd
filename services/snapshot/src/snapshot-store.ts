import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdir, open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Where snapshots live: `<store>/remediations/<batch_id>/<snapshot_id>.json`, each written once. */
export interface SnapshotStore {
  readonly description: string;
  /** Write the document unless one exists at that key; returns false (and writes nothing) if it does. */
  putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean>;
  get(batchId: string, snapshotId: string): Promise<string | null>;
  list(batchId: string): Promise<string[]>;
  /** Can the store be written now? (readiness) */
  check(): Promise<void>;
}

const rel = (batchId: string, snapshotId?: string) =>
  snapshotId ? `remediations/${batchId}/${snapshotId}.json` : `remediations/${batchId}/`;

export class FileSnapshotStore implements SnapshotStore {
  constructor(private readonly dir: string) {}
  get description() {
    return `file://${this.dir}`;
  }

  async putIfAbsent(batchId: string, snapshotId: string, body: string): Promise<boolean> {
    const path = join(this.dir, rel(batchId, snapshotId));
    await mkdir(join(this.dir, rel(batchId)), { recursive: true });
    let fh;
    try {
      // `wx`: exclusive create, so an existing snapshot is never overwritten.
      fh = await open(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    return true;
  }

  async get(batchId: string, snapshotId: string): Promise<string | null> {
    try {
      return await readFile(join(this.dir, rel(batchId, snapshotId)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async list(batchId: string): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, rel(batchId)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => /^snap-\d+\.json$/.test(n))
      .map((n) => n.slice(0, -5))
      .sort();
  }

  async check(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const probe = join(this.dir, '.probe');
    const fh = await open(probe, 'w');
    await fh.close();
  }
}

export class S3SnapshotStore implements SnapshotStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}
  get description() {
    return `s3://${this.bucket}/${this.prefix}`;
  }
  private key(r: string) {
    return this.prefix ? `${this.prefix.replace(/\/$/, '')}/${r}` : r;
  }

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
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  async list(batchId: string): Promise<string[]> {
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(rel(batchId)), ContinuationToken: token }),
      );
      for (const o of out.Contents ?? []) {
        const m = /\/(snap-\d+)\.json$/.exec(o.Key ?? '');
        if (m?.[1]) ids.push(m[1]);
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return ids.sort();
  }

  async check(): Promise<void> {
    await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key('remediations/'), MaxKeys: 1 }),
    );
  }
}
