import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { AwsError, type SandboxRequest, header } from './wire';

/**
 * The object bytes of a PutObject: plain, or `aws-chunked` as newer SDKs and the CLI send it
 * (`x-amz-content-sha256: STREAMING-…`, `content-encoding: aws-chunked`, checksum trailers).
 * Chunk signatures are not verified (the sandbox accepts any credentials); CRC32 and MD5 are.
 */
export function objectBytes(req: SandboxRequest): Buffer {
  const sha = header(req, 'x-amz-content-sha256') ?? '';
  const encodings = (header(req, 'content-encoding') ?? '').split(',').map((s) => s.trim());
  let body = req.body;
  let trailers: Record<string, string> = {};
  if (sha.startsWith('STREAMING-') || encodings.includes('aws-chunked')) {
    ({ body, trailers } = decodeAwsChunked(req.body));
    const declared = header(req, 'x-amz-decoded-content-length');
    if (declared !== undefined && Number(declared) !== body.length) {
      throw new AwsError(
        'IncompleteBody',
        'You did not provide the number of bytes specified by the Content-Length HTTP header',
      );
    }
  }
  const crc = trailers['x-amz-checksum-crc32'] ?? header(req, 'x-amz-checksum-crc32');
  if (crc !== undefined && crc !== crc32Base64(body)) {
    throw new AwsError('BadDigest', 'The CRC32 you specified did not match the calculated checksum.');
  }
  const md5 = header(req, 'content-md5');
  if (md5 !== undefined && md5 !== createHash('md5').update(body).digest('base64')) {
    throw new AwsError('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  return body;
}

function crc32Base64(b: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b));
  return out.toString('base64');
}

/** `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0\r\n` then `name:value\r\n` trailers. */
export function decodeAwsChunked(raw: Buffer): { body: Buffer; trailers: Record<string, string> } {
  const parts: Buffer[] = [];
  const trailers: Record<string, string> = {};
  const bad = () => new AwsError('IncompleteBody', 'The request body is not valid aws-chunked encoding');
  let pos = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) throw bad();
    const size = parseInt(raw.subarray(pos, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (Number.isNaN(size)) throw bad();
    pos = eol + 2;
    if (size === 0) break;
    if (pos + size > raw.length) throw bad();
    parts.push(raw.subarray(pos, pos + size));
    pos += size + 2;
  }
  for (const line of raw.subarray(pos).toString('latin1').split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) trailers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { body: Buffer.concat(parts), trailers };
}
