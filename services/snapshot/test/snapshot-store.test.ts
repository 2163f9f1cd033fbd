import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type SandboxHandle } from '@aegis/aws-sandbox';
import { DirSync, FileSnapshotStore, S3SnapshotStore } from '../src/snapshot-store';

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

  it('writes into a batch folder removed since its last write (the folder is made again)', async () => {
    await store.putIfAbsent('batch-20260101-001', 'snap-001', doc('snap-001'));
    rmSync(join(dir, 'remediations', 'batch-20260101-001'), { recursive: true });
    expect(await store.putIfAbsent('batch-20260101-001', 'snap-002', doc('snap-002'))).toBe(true);
    expect(await store.list('batch-20260101-001')).toEqual(['snap-002']);
  });

  it('stores many snapshots of one batch written at once, each readable', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `snap-${String(i + 1).padStart(3, '0')}`);
    expect(await Promise.all(ids.map((id) => store.putIfAbsent(B, id, doc(id))))).toEqual(ids.map(() => true));
    expect(await store.list(B)).toEqual(ids);
    for (const id of ids) expect(await store.get(B, id)).toBe(doc(id));
  });
});

describe('DirSync (group commit of folder fsyncs)', () => {
  /** A folder sync the test finishes by hand, recording when each started. */
  function manualSync() {
    const started: { folder: string; finish: (err?: Error) => void }[] = [];
    const fn = (folder: string) =>
      new Promise<void>((resolve, reject) =>
        started.push({ folder, finish: (err) => (err ? reject(err) : resolve()) }),
      );
    return { started, fn };
  }
  const tick = () => new Promise((r) => setImmediate(r));

  it('answers a caller only with a sync that started after it asked; callers waiting together share one', async () => {
    const m = manualSync();
    const ds = new DirSync(m.fn);
    let aDone = false;
    const a = ds.sync('/f').then(() => (aDone = true));
    await tick();
    expect(m.started).toHaveLength(1);
    // b and c ask while the first sync runs: neither may be answered by it.
    let bDone = false;
    const b = ds.sync('/f').then(() => (bDone = true));
    const c = ds.sync('/f');
    m.started[0]?.finish();
    await a;
    await tick();
    expect(aDone).toBe(true);
    expect(bDone).toBe(false);
    expect(m.started).toHaveLength(2);
    m.started[1]?.finish();
    await Promise.all([b, c]);
    expect(m.started).toHaveLength(2);
  });

  it('syncs different folders independently and hands a failure to every waiter of that sync', async () => {
    const m = manualSync();
    const ds = new DirSync(m.fn);
    const x = ds.sync('/x');
    const y = ds.sync('/y');
    await tick();
    expect(m.started.map((s) => s.folder).sort()).toEqual(['/x', '/y']);
    const x2 = ds.sync('/x');
    const x3 = ds.sync('/x');
    m.started[0]?.finish();
    await x;
    await tick();
    m.started[2]?.finish(new Error('EIO'));
    await expect(x2).rejects.toThrow('EIO');
    await expect(x3).rejects.toThrow('EIO');
    m.started[1]?.finish();
    await y;
    // After a failure the next caller gets a sync of its own.
    const x4 = ds.sync('/x');
    await tick();
    m.started[3]?.finish();
    await x4;
    expect(m.started).toHaveLength(4);
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
