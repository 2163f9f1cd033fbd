import type { Bucket, S3Object } from './state';
import { type SandboxRequest, type SandboxResponse, xmlDocument, xmlResponse } from './wire';

export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** ListObjectsV2 (and V1): prefix, delimiter, max-keys, start-after/marker, continuation, url encoding. */
export function listObjects(req: SandboxRequest, b: Bucket, v2: boolean): SandboxResponse {
  const q = req.query;
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Math.min(Number(q.get('max-keys') ?? 1000), 1000);
  const token = q.get('continuation-token');
  const after = v2
    ? token
      ? Buffer.from(token, 'base64').toString('utf8')
      : (q.get('start-after') ?? '')
    : (q.get('marker') ?? '');
  const enc =
    q.get('encoding-type') === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
  const keys = [...b.objects.keys()]
    .filter((k) => k.startsWith(prefix) && k > after)
    .sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1));
  const contents: S3Object[] = [];
  const prefixes: string[] = [];
  let last = '';
  let truncated = false;
  for (const k of keys) {
    const cut = delimiter ? k.indexOf(delimiter, prefix.length) : -1;
    const common = cut >= 0 ? k.slice(0, cut + delimiter.length) : undefined;
    if (common !== undefined && prefixes.includes(common)) continue;
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    if (common !== undefined) prefixes.push(common);
    else contents.push(b.objects.get(k) as S3Object);
    last = common ?? k;
  }
  const body = {
    Name: b.name,
    Prefix: enc(prefix),
    Delimiter: delimiter ? enc(delimiter) : undefined,
    MaxKeys: maxKeys,
    EncodingType: q.get('encoding-type') ?? undefined,
    IsTruncated: truncated,
    ...(v2
      ? {
          KeyCount: contents.length + prefixes.length,
          ContinuationToken: token ?? undefined,
          StartAfter: q.get('start-after') ?? undefined,
          NextContinuationToken: truncated ? Buffer.from(last).toString('base64') : undefined,
        }
      : { Marker: after, NextMarker: truncated && delimiter ? enc(last) : undefined }),
    Contents: contents.map((o) => ({
      Key: enc(o.key),
      LastModified: new Date(o.lastModified).toISOString(),
      ETag: o.etag,
      Size: o.body.length,
      StorageClass: 'STANDARD',
    })),
    CommonPrefixes: prefixes.map((p) => ({ Prefix: enc(p) })),
  };
  return xmlResponse(200, xmlDocument('ListBucketResult', S3_NS, body));
}
