import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type SandboxHandle } from '@aegis/aws-sandbox';
import { FileSnapshotStore, S3SnapshotStore } from '../src/snapshot-store';

const B = 'batch-20260226-001';
const doc = (id: string, n = 1) => JSON.stringify({ snapshot_id: id, n });

describe('FileSnapshotStore', () => {
  let dir: string;
  let store: FileSnapshotStore;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aegis-snapstore-'));
    store = new FileSnapshotStore(dir);
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a snapshot once: a second put returns false and leaves the first content', async () => {
    expect(await store.putIfAbsent(B, 'snap-001', doc('snap-001', 1))).toBe(true);
    expect(await store.putIfAbsent(B, 'snap-001', doc('snap-001', 2))).toBe(false);
    expect(await store.get(B, 'snap-001')).toBe(doc('snap-001', 1));
    const path = join(dir, 'remediations', B, 'snap-001.json');
    expect(readFileSync(path, 'utf8')).toBe(doc('snap-001', 1));
    // Nothing but the snapshot is left in the folder (the temporary file is gone).
    expect(readdirSync(join(dir, 'remediations', B))).toEqual(['snap-001.json']);
  });

  it('lets exactly one of concurrent writers of the same snapshot win', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.putIfAbsent(B, 'snap-002', doc('snap-002', i))),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await store.get(B, 'snap-002')).toBe(doc('snap-002', winner));
    expect(readdirSync(join(dir, 'remediations', B))).toEqual(['snap-002.json']);
  });

  it('lists a batch in the order the snapshots were taken (numeric), ignoring other files', async () => {
    for (const id of ['snap-010', 'snap-002', 'snap-1000', 'snap-001', 'snap-999'])
      await store.putIfAbsent(B, id, doc(id));
    writeFileSync(join(dir, 'remediations', B, 'notes.txt'), 'x');
    writeFileSync(join(dir, 'remediations', B, '.snap-003.123.ab.tmp'), 'partial');
    await store.putIfAbsent('batch-20260226-002', 'snap-005', doc('snap-005'));
    expect(await store.list(B)).toEqual(['snap-001', 'snap-002', 'snap-010', 'snap-999', 'snap-1000']);
  });

  it('answers null / [] for what does not exist (ENOENT), and rethrows other errors', async () => {
    expect(await store.get(B, 'snap-001')).toBeNull();
    expect(await store.list(B)).toEqual([]);
    await store.putIfAbsent(B, 'snap-001', doc('snap-001'));
    expect(await store.get(B, 'snap-002')).toBeNull();
    // A folder where the snapshot file should be: EISDIR is an error, not "absent".
    mkdirSync(join(dir, 'remediations', B, 'snap-003.json'));
    await expect(store.get(B, 'snap-003')).rejects.toMatchObject({ code: 'EISDIR' });
  });

  it('passes its readiness check on a writable folder, fails on a file in the way', async () => {
    await expect(store.check()).resolves.toBeUndefined();
    writeFileSync(join(dir, 'file'), 'x');
    await expect(new FileSnapshotStore(join(dir, 'file', 'sub')).check()).rejects.toBeDefined();
  });

  it('prunes snapshots older than the retention, keeps newer ones, removes emptied batch folders', async () => {
    await store.putIfAbsent(B, 'snap-001', doc('snap-001'));
    await store.putIfAbsent(B, 'snap-002', doc('snap-002'));
    await store.putIfAbsent('batch-20260101-001', 'snap-001', doc('old'));
    const old = new Date(Date.now() - 40 * 86_400_000);
    utimesSync(join(dir, 'remediations', B, 'snap-001.json'), old, old);
    utimesSync(join(dir, 'remediations', 'batch-20260101-001', 'snap-001.json'), old, old);
    const removed = await store.prune(new Date(Date.now() - 30 * 86_400_000));
    expect(removed).toBe(2);
    expect(await store.list(B)).toEqual(['snap-002']);
    expect(readdirSync(join(dir, 'remediations'))).toEqual([B]);
    expect(await new FileSnapshotStore(join(dir, 'none')).prune(new Date())).toBe(0);
  });
});

describe('S3SnapshotStore against the aws-sandbox', () => {
  let sb: SandboxHandle;
  let s3: S3Client;
  const bucket = 'aegis-snapshots-test';
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, seed: false, throttling: false });
    s3 = new S3Client({
      endpoint: sb.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => {
    s3?.destroy();
    await sb?.close();
  });

  it('writes once: the second put is refused by S3 (If-None-Match: * → 412) and the object keeps its content', async () => {
    const store = new S3SnapshotStore(s3, bucket, 'prod');
    expect(await store.putIfAbsent(B, 'snap-001', doc('snap-001', 1))).toBe(true);
    expect(await store.putIfAbsent(B, 'snap-001', doc('snap-001', 2))).toBe(false);
    expect(await store.get(B, 'snap-001')).toBe(doc('snap-001', 1));
    // Under the prefix, at DESIGN.md's key.
    const keys = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'prod/' }));
    expect(keys.Contents?.map((o) => o.Key)).toEqual([`prod/remediations/${B}/snap-001.json`]);
    // The 412 itself: what S3 answers a conditional create of an existing key.
    await expect(
      s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `prod/remediations/${B}/snap-001.json`,
          Body: 'x',
          IfNoneMatch: '*',
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 412 } });
  });

  it('lists a batch across continuation pages, in numeric order, only that batch folder', async () => {
    const store = new S3SnapshotStore(s3, bucket, 'paged/', 2);
    const ids = ['snap-003', 'snap-001', 'snap-010', 'snap-002', 'snap-1000', 'snap-004', 'snap-005'];
    for (const id of ids) await store.putIfAbsent(B, id, doc(id));
    await store.putIfAbsent('batch-20260226-0010', 'snap-009', doc('other batch, same key prefix'));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `paged/remediations/${B}/README.txt`, Body: 'x' }));
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: `paged/remediations/${B}/old/snap-099.json`, Body: 'x' }),
    );
    expect(await store.list(B)).toEqual([
      'snap-001',
      'snap-002',
      'snap-003',
      'snap-004',
      'snap-005',
      'snap-010',
      'snap-1000',
    ]);
    // The listing really took several pages.
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `paged/remediations/${B}/`, MaxKeys: 2 }),
    );
    expect(page.IsTruncated).toBe(true);
  });

  it('answers null for a missing snapshot and [] for an unknown batch; a missing bucket is an error', async () => {
    const store = new S3SnapshotStore(s3, bucket, '');
    expect(await store.get(B, 'snap-404')).toBeNull();
    expect(await store.list('batch-19990101-001')).toEqual([]);
    await expect(store.check()).resolves.toBeUndefined();
    const gone = new S3SnapshotStore(s3, 'no-such-bucket-here', '');
    await expect(gone.get(B, 'snap-001')).rejects.toMatchObject({ name: 'NoSuchBucket' });
    await expect(gone.check()).rejects.toBeDefined();
    await expect(gone.putIfAbsent(B, 'snap-001', '{}')).rejects.toBeDefined();
  });
});
