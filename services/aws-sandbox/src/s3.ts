import { createHash } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import type { SandboxContext, ServiceHandler } from './context';
import { objectBytes } from './s3-body';
import { S3_NS, listObjects } from './s3-list';
import type { Bucket, PublicAccessBlock, S3Object } from './state';
import {
  AwsError,
  type SandboxRequest,
  type SandboxResponse,
  escapeXml,
  header,
  xmlDocument,
  xmlResponse,
} from './wire';

const UNSUPPORTED = [
  'acl',
  'policy',
  'tagging',
  'versioning',
  'cors',
  'lifecycle',
  'encryption',
  'uploads',
  'uploadId',
  'delete',
  'website',
  'logging',
  'notification',
  'replication',
  'ownershipControls',
  'versions',
];

interface Target {
  bucket?: string;
  key?: string;
}

/** Path-style `/<bucket>/<key>`, or virtual-host style `<bucket>.localhost` / `<bucket>.s3.…`. */
export function s3Target(req: SandboxRequest): Target {
  const host = (header(req, 'host') ?? '').replace(/:\d+$/, '');
  const vhost = /^(.+)\.localhost$/.exec(host)?.[1] ?? /^(.+)\.s3[.-]/.exec(host)?.[1];
  const segs = req.path.split('/').slice(1);
  const decode = (s: string) => decodeURIComponent(s);
  if (vhost) return { bucket: vhost, key: req.path.length > 1 ? decode(req.path.slice(1)) : undefined };
  const bucket = segs[0] ? decode(segs[0]) : undefined;
  const rest = segs.slice(1).join('/');
  return { bucket, key: segs.length > 1 && rest !== '' ? decode(rest) : undefined };
}

function operation(req: SandboxRequest): string {
  const { bucket, key } = s3Target(req);
  const q = req.query;
  const m = req.method;
  if (UNSUPPORTED.some((s) => q.has(s)) || (m === 'PUT' && header(req, 'x-amz-copy-source'))) return 'Unsupported';
  if (!bucket) return m === 'GET' ? 'ListBuckets' : 'Unsupported';
  if (key === undefined) {
    if (q.has('publicAccessBlock')) {
      return (
        (
          { GET: 'GetPublicAccessBlock', PUT: 'PutPublicAccessBlock', DELETE: 'DeletePublicAccessBlock' } as Record<
            string,
            string
          >
        )[m] ?? 'Unsupported'
      );
    }
    if (m === 'GET' && q.has('location')) return 'GetBucketLocation';
    if (m === 'GET') return q.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    return (
      ({ PUT: 'CreateBucket', HEAD: 'HeadBucket', DELETE: 'DeleteBucket' } as Record<string, string>)[m] ??
      'Unsupported'
    );
  }
  return (
    ({ PUT: 'PutObject', GET: 'GetObject', HEAD: 'HeadObject', DELETE: 'DeleteObject' } as Record<string, string>)[m] ??
    'Unsupported'
  );
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, removeNSPrefix: true });

function parseXml(body: Buffer): Record<string, unknown> {
  if (!body.length) return {};
  try {
    return parser.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new AwsError(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  }
}

function getBucket(ctx: SandboxContext, name: string): Bucket {
  const b = ctx.state.buckets.get(name);
  if (!b) throw new AwsError('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: name });
  return b;
}

const ok = (status = 200, headers: Record<string, string> = {}): SandboxResponse => ({ status, headers });
const xml = (root: string, body: Parameters<typeof xmlDocument>[2]) => xmlResponse(200, xmlDocument(root, S3_NS, body));
const httpDate = (t: number) => new Date(t).toUTCString();

function objectHeaders(o: S3Object): Record<string, string> {
  const h: Record<string, string> = {
    etag: o.etag,
    'content-type': o.contentType,
    'last-modified': httpDate(o.lastModified),
    'accept-ranges': 'bytes',
  };
  for (const [k, v] of Object.entries(o.metadata)) h[`x-amz-meta-${k}`] = v;
  return h;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → [start, end] inclusive, or undefined for the whole object. */
function range(spec: string | undefined, size: number): [number, number] | undefined {
  const m = spec ? /^bytes=(\d*)-(\d*)$/.exec(spec) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const [start, end] =
    m[1] === ''
      ? [Math.max(0, size - Number(m[2])), size - 1]
      : [Number(m[1]), m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
  if (start >= size || start > end) throw new AwsError('InvalidRange', 'The requested range is not satisfiable', 416);
  return [start, end];
}

function createBucket(req: SandboxRequest, ctx: SandboxContext, name: string): SandboxResponse {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..')) {
    throw new AwsError('InvalidBucketName', 'The specified bucket is not valid.', 400, { BucketName: name });
  }
  const conf = parseXml(req.body).CreateBucketConfiguration as Record<string, unknown> | undefined;
  const constraint =
    typeof conf?.LocationConstraint === 'string' && conf.LocationConstraint ? conf.LocationConstraint : undefined;
  const region = constraint ?? 'us-east-1';
  if (req.region !== 'us-east-1' && region !== req.region) {
    throw new AwsError(
      'IllegalLocationConstraintException',
      `The ${constraint ?? 'unspecified'} location constraint is incompatible for the region specific endpoint this request was sent to.`,
    );
  }
  const existing = ctx.state.buckets.get(name);
  if (existing) {
    // S3 answers 200 in us-east-1 for a bucket you already own, and 409 everywhere else.
    if (existing.region === 'us-east-1' && region === 'us-east-1') return ok(200, { location: `/${name}` });
    throw new AwsError(
      'BucketAlreadyOwnedByYou',
      'Your previous request to create the named bucket succeeded and you already own it.',
      409,
      { BucketName: name },
    );
  }
  ctx.state.buckets.set(name, { name, region, createdAt: ctx.now(), objects: new Map() });
  return ok(200, { location: `/${name}` });
}

const PAB_FIELDS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;

function putPublicAccessBlock(req: SandboxRequest, b: Bucket): SandboxResponse {
  const conf = parseXml(req.body).PublicAccessBlockConfiguration;
  if (typeof conf !== 'object' || conf === null) {
    throw new AwsError(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema',
    );
  }
  const c = conf as Record<string, unknown>;
  const pab = {} as PublicAccessBlock;
  for (const f of PAB_FIELDS) pab[f] = String(c[f] ?? 'false').toLowerCase() === 'true';
  b.publicAccessBlock = pab;
  return ok(200);
}

function putObject(req: SandboxRequest, ctx: SandboxContext, b: Bucket, key: string): SandboxResponse {
  const body = objectBytes(req);
  const existing = b.objects.get(key);
  const ifNoneMatch = header(req, 'if-none-match');
  const ifMatch = header(req, 'if-match');
  if (
    (ifNoneMatch === '*' && existing) ||
    (ifMatch !== undefined && (!existing || (ifMatch !== '*' && ifMatch !== existing.etag)))
  ) {
    if (ifMatch !== undefined && !existing)
      throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
    throw new AwsError('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, {
      Condition: ifNoneMatch ? 'If-None-Match' : 'If-Match',
    });
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (k.startsWith('x-amz-meta-') && typeof v === 'string') metadata[k.slice(11)] = v;
  const etag = `"${createHash('md5').update(body).digest('hex')}"`;
  b.objects.set(key, {
    key,
    body,
    etag,
    contentType: header(req, 'content-type') ?? 'binary/octet-stream',
    lastModified: ctx.now(),
    metadata,
  });
  return ok(200, { etag });
}

function getObject(req: SandboxRequest, b: Bucket, key: string, head: boolean): SandboxResponse {
  const o = b.objects.get(key);
  if (!o) throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
  const r = range(header(req, 'range'), o.body.length);
  const body = r ? o.body.subarray(r[0], r[1] + 1) : o.body;
  const h: Record<string, string> = { ...objectHeaders(o), 'content-length': String(body.length) };
  if (r) h['content-range'] = `bytes ${r[0]}-${r[1]}/${o.body.length}`;
  return { status: r ? 206 : 200, headers: h, body: head ? undefined : body };
}

export const s3: ServiceHandler = {
  service: 's3',
  operation,
  handle(req, ctx) {
    const op = operation(req);
    const { bucket = '', key = '' } = s3Target(req);
    switch (op) {
      case 'ListBuckets':
        return xml('ListAllMyBucketsResult', {
          Owner: { ID: createHash('sha256').update(ctx.state.accountId).digest('hex'), DisplayName: 'sandbox' },
          Buckets: {
            Bucket: [...ctx.state.buckets.values()].map((b) => ({
              Name: b.name,
              CreationDate: new Date(b.createdAt).toISOString(),
              BucketRegion: b.region,
            })),
          },
        });
      case 'CreateBucket':
        return createBucket(req, ctx, bucket);
      case 'HeadBucket':
        return ok(200, { 'x-amz-bucket-region': getBucket(ctx, bucket).region });
      case 'DeleteBucket': {
        const b = getBucket(ctx, bucket);
        if (b.objects.size)
          throw new AwsError('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409, {
            BucketName: bucket,
          });
        ctx.state.buckets.delete(bucket);
        return ok(204);
      }
      case 'GetBucketLocation': {
        const region = getBucket(ctx, bucket).region;
        const text = region === 'us-east-1' ? '' : escapeXml(region);
        return xmlResponse(
          200,
          `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="${S3_NS}">${text}</LocationConstraint>`,
        );
      }
      case 'GetPublicAccessBlock': {
        const pab = getBucket(ctx, bucket).publicAccessBlock;
        if (!pab)
          throw new AwsError(
            'NoSuchPublicAccessBlockConfiguration',
            'The public access block configuration was not found',
            404,
            { BucketName: bucket },
          );
        return xml('PublicAccessBlockConfiguration', { ...pab });
      }
      case 'PutPublicAccessBlock':
        return putPublicAccessBlock(req, getBucket(ctx, bucket));
      case 'DeletePublicAccessBlock':
        delete getBucket(ctx, bucket).publicAccessBlock;
        return ok(204);
      case 'ListObjectsV2':
      case 'ListObjects':
        return listObjects(req, getBucket(ctx, bucket), op === 'ListObjectsV2');
      case 'PutObject':
        return putObject(req, ctx, getBucket(ctx, bucket), key);
      case 'GetObject':
      case 'HeadObject':
        return getObject(req, getBucket(ctx, bucket), key, op === 'HeadObject');
      case 'DeleteObject':
        getBucket(ctx, bucket).objects.delete(key);
        return ok(204);
      default:
        throw new AwsError(
          'NotImplemented',
          'A header or query you provided implies functionality that is not implemented',
          501,
        );
    }
  },
  error(err, req) {
    const headers = { 'x-amz-request-id': req.requestId };
    if (req.method === 'HEAD') return { status: err.status, headers };
    const body = xmlDocument('Error', undefined, {
      Code: err.code,
      Message: err.message,
      ...err.extra,
      RequestId: req.requestId,
      HostId: 'sandbox',
    });
    return xmlResponse(err.status, body, headers);
  },
  throttled: () => new AwsError('SlowDown', 'Please reduce your request rate.', 503),
};
