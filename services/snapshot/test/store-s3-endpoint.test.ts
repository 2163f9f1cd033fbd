import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSandbox, type SandboxHandle } from '@aegis/aws-sandbox';
import { S3SnapshotStore } from '../src/snapshot-store';
import { storeS3Client } from '../src/store-s3-client';

const B = 'batch-20260226-001';

/**
 * The store's S3 code path with an endpoint override, as for Google Cloud Storage's XML API
 * (`https://storage.googleapis.com` with HMAC keys): here the aws-sandbox stands in for it, behind a
 * recording proxy that shows what the store sends.
 */
describe('snapshot store on an S3-compatible endpoint (AEGIS_SNAPSHOT_S3_ENDPOINT)', () => {
  let sb: SandboxHandle;
  let proxy: Server;
  let url: string;
  const seen: { method: string; path: string; headers: IncomingHttpHeaders }[] = [];
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, seed: false, logLevel: 'silent' });
    const target = new URL(sb.url);
    proxy = createServer((req, res) => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => proxy.close(() => r()));
    await sb.close();
  });

  it('writes once, reads and lists through the override, path-style, with its own HMAC keys', async () => {
    const s3 = storeS3Client({
      endpoint: url,
      region: 'auto',
      credentials: { accessKeyId: 'GOOG1EHMACKEYID', secretAccessKey: 'hmac-secret' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'aegis-snapshots-gcs' }));
    const store = new S3SnapshotStore(s3, 'aegis-snapshots-gcs', 'prod');
    expect(await store.putIfAbsent(B, 'snap-001', '{"n":1}')).toBe(true);
    expect(await store.putIfAbsent(B, 'snap-001', '{"n":2}')).toBe(false);
    expect(await store.get(B, 'snap-001')).toBe('{"n":1}');
    expect(await store.list(B)).toEqual(['snap-001']);

    const put = seen.find((r) => r.method === 'PUT' && r.path.includes('snap-001'));
    expect(put?.path.split('?')[0]).toBe(`/aegis-snapshots-gcs/prod/remediations/${B}/snap-001.json`);
    expect(put?.headers['if-none-match']).toBe('*');
    expect(put?.headers['x-goog-if-generation-match']).toBe('0');
    // A plain body: no aws-chunked encoding or checksum trailer, which GCS does not accept.
    expect(put?.headers['content-encoding']).toBeUndefined();
    expect(put?.headers['x-amz-trailer']).toBeUndefined();
    expect(String(put?.headers.authorization)).toContain('Credential=GOOG1EHMACKEYID/');

    const direct = new S3Client({
      endpoint: sb.url,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const obj = await direct.send(
      new GetObjectCommand({ Bucket: 'aegis-snapshots-gcs', Key: `prod/remediations/${B}/snap-001.json` }),
    );
    expect(await obj.Body?.transformToString()).toBe('{"n":1}');
    direct.destroy();
    s3.destroy();
  });
});
