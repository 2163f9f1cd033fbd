import { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  DeletePublicAccessBlockCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { decodeAwsChunked } from '../src/s3-body';
import { awsError, clients, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true });

describe('S3 buckets', () => {
  it('creates buckets with a region, lists, heads and locates them', async () => {
    await c().s3.send(new CreateBucketCommand({ Bucket: 'b-east' }));
    const west = clients(sb().url, 'us-west-2');
    try {
      await west.s3.send(
        new CreateBucketCommand({ Bucket: 'b-west', CreateBucketConfiguration: { LocationConstraint: 'us-west-2' } }),
      );
      expect((await west.s3.send(new GetBucketLocationCommand({ Bucket: 'b-west' }))).LocationConstraint).toBe(
        'us-west-2',
      );
      expect(
        (
          await awsError(
            west.s3.send(
              new CreateBucketCommand({
                Bucket: 'b-west',
                CreateBucketConfiguration: { LocationConstraint: 'us-west-2' },
              }),
            ),
          )
        ).name,
      ).toBe('BucketAlreadyOwnedByYou');
    } finally {
      west.s3.destroy();
    }
    expect((await c().s3.send(new GetBucketLocationCommand({ Bucket: 'b-east' }))).LocationConstraint).toBeUndefined();
    const head = await c().s3.send(new HeadBucketCommand({ Bucket: 'b-west' }));
    expect(head.BucketRegion).toBe('us-west-2');
    const names = (await c().s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name);
    expect(names).toEqual(expect.arrayContaining(['aegis-demo-public', 'b-east', 'b-west']));
    expect(await awsError(c().s3.send(new HeadBucketCommand({ Bucket: 'missing-bucket' })))).toMatchObject({
      name: 'NotFound',
      status: 404,
    });
    expect(await awsError(c().s3.send(new GetBucketLocationCommand({ Bucket: 'missing-bucket' })))).toMatchObject({
      name: 'NoSuchBucket',
      status: 404,
    });
    expect((await awsError(c().s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })))).name).toBe(
      'InvalidBucketName',
    );
  });

  it('puts, gets and deletes the PublicAccessBlock (404 NoSuchPublicAccessBlockConfiguration when absent)', async () => {
    const Bucket = sb().seeded()?.bucket ?? '';
    expect(await awsError(c().s3.send(new GetPublicAccessBlockCommand({ Bucket })))).toMatchObject({
      name: 'NoSuchPublicAccessBlockConfiguration',
      status: 404,
    });
    const conf = {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: false,
    };
    await c().s3.send(new PutPublicAccessBlockCommand({ Bucket, PublicAccessBlockConfiguration: conf }));
    expect((await c().s3.send(new GetPublicAccessBlockCommand({ Bucket }))).PublicAccessBlockConfiguration).toEqual(
      conf,
    );
    await c().s3.send(new DeletePublicAccessBlockCommand({ Bucket }));
    expect((await awsError(c().s3.send(new GetPublicAccessBlockCommand({ Bucket })))).name).toBe(
      'NoSuchPublicAccessBlockConfiguration',
    );
    expect(
      (
        await awsError(
          c().s3.send(new PutPublicAccessBlockCommand({ Bucket: 'nope-bucket', PublicAccessBlockConfiguration: conf })),
        )
      ).name,
    ).toBe('NoSuchBucket');
  });
});

describe('S3 objects', () => {
  beforeAll(async () => {
    await c().s3.send(new CreateBucketCommand({ Bucket: 'objects' }));
  });

  it('round-trips a string body with metadata and content type', async () => {
    const put = await c().s3.send(
      new PutObjectCommand({
        Bucket: 'objects',
        Key: 'a/b.json',
        Body: '{"x":1}',
        ContentType: 'application/json',
        Metadata: { owner: 'aegis' },
      }),
    );
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const get = await c().s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'a/b.json' }));
    expect(await get.Body?.transformToString()).toBe('{"x":1}');
    expect(get).toMatchObject({
      ContentType: 'application/json',
      Metadata: { owner: 'aegis' },
      ETag: put.ETag,
      ContentLength: 7,
    });
    const head = await c().s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'a/b.json' }));
    expect(head.ContentLength).toBe(7);
  });

  it('decodes aws-chunked streaming bodies with checksum trailers (stream of unknown length)', async () => {
    const big = Buffer.alloc(200_000, 'z');
    const body = Readable.from([Buffer.from('hello '), big, Buffer.from(' world')]);
    await c().s3.send(
      new PutObjectCommand({ Bucket: 'objects', Key: 'stream.bin', Body: body, ContentLength: big.length + 12 }),
    );
    const got = await c().s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'stream.bin' }));
    const bytes = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    expect(bytes.length).toBe(big.length + 12);
    expect(bytes.subarray(0, 6).toString()).toBe('hello ');
    expect(bytes.subarray(-6).toString()).toBe(' world');
  });

  it('decodes signed aws-chunked framing and trailers', () => {
    const raw = Buffer.from(
      '5;chunk-signature=abc\r\nhello\r\n0;chunk-signature=def\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n',
    );
    expect(decodeAwsChunked(raw)).toEqual({
      body: Buffer.from('hello'),
      trailers: { 'x-amz-checksum-crc32': 'NhCmhg==' },
    });
  });

  it('honours If-None-Match: * (412 PreconditionFailed when the key exists)', async () => {
    await c().s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'once', Body: 'first', IfNoneMatch: '*' }));
    expect(
      await awsError(
        c().s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'once', Body: 'second', IfNoneMatch: '*' })),
      ),
    ).toMatchObject({
      name: 'PreconditionFailed',
      status: 412,
    });
    const got = await c().s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'once' }));
    expect(await got.Body?.transformToString()).toBe('first');
  });

  it('lists with prefix, delimiter and continuation tokens', async () => {
    for (const k of ['p/1', 'p/2', 'p/3', 'p/sub/4', 'q/5']) {
      await c().s3.send(new PutObjectCommand({ Bucket: 'objects', Key: k, Body: k }));
    }
    const first = await c().s3.send(new ListObjectsV2Command({ Bucket: 'objects', Prefix: 'p/', MaxKeys: 2 }));
    expect(first.Contents?.map((o) => o.Key)).toEqual(['p/1', 'p/2']);
    expect(first).toMatchObject({ IsTruncated: true, KeyCount: 2 });
    const second = await c().s3.send(
      new ListObjectsV2Command({
        Bucket: 'objects',
        Prefix: 'p/',
        MaxKeys: 2,
        ContinuationToken: first.NextContinuationToken,
      }),
    );
    expect(second.Contents?.map((o) => o.Key)).toEqual(['p/3', 'p/sub/4']);
    expect(second.IsTruncated).toBe(false);
    const delim = await c().s3.send(new ListObjectsV2Command({ Bucket: 'objects', Prefix: 'p/', Delimiter: '/' }));
    expect(delim.CommonPrefixes).toEqual([{ Prefix: 'p/sub/' }]);
    expect(delim.Contents).toHaveLength(3);
  });

  it('deletes objects and reports NoSuchKey / NoSuchBucket', async () => {
    await c().s3.send(new PutObjectCommand({ Bucket: 'objects', Key: 'gone', Body: 'x' }));
    await c().s3.send(new DeleteObjectCommand({ Bucket: 'objects', Key: 'gone' }));
    expect(await awsError(c().s3.send(new GetObjectCommand({ Bucket: 'objects', Key: 'gone' })))).toMatchObject({
      name: 'NoSuchKey',
      status: 404,
    });
    expect(await awsError(c().s3.send(new HeadObjectCommand({ Bucket: 'objects', Key: 'gone' })))).toMatchObject({
      name: 'NotFound',
      status: 404,
    });
    expect((await awsError(c().s3.send(new PutObjectCommand({ Bucket: 'no-such', Key: 'k', Body: 'x' })))).name).toBe(
      'NoSuchBucket',
    );
    expect((await awsError(c().s3.send(new ListObjectsV2Command({ Bucket: 'no-such' })))).name).toBe('NoSuchBucket');
  });
});
