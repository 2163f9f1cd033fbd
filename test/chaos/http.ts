import { request } from 'node:http';
import { connect } from 'node:net';
import type { RedisClient } from '../../packages/core/src';
import type { Stack } from '../../packages/testkit/src';

export interface RawAnswer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
  /** Set when the connection failed before an answer came (status 0). */
  failure?: string;
}

/**
 * One HTTP request exactly as given: the path is not normalised (`..` and `%2e%2e` reach the
 * server as sent), the body is sent as is, whatever it declares.
 */
export function raw(
  stack: Stack,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<RawAnswer> {
  const url = new URL(stack.apiUrl);
  return new Promise((resolve) => {
    const req = request(
      {
        host: url.hostname,
        port: Number(url.port),
        method,
        path,
        headers: {
          ...(opts.body !== undefined ? { 'content-length': String(Buffer.byteLength(opts.body)) } : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
        );
        res.on('error', (err) => resolve({ status: res.statusCode ?? 0, text: '', headers: {}, failure: err.message }));
      },
    );
    // The server may answer (413) and close before a huge body is sent: the answer still counts.
    req.on('error', (err) => resolve({ status: 0, text: '', headers: {}, failure: err.message }));
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** `{error:{code,message}}` with strings, and no stack trace: null when the body is right. */
export function errorBodyProblem(a: RawAnswer): string | null {
  if (a.failure) return `no answer: ${a.failure}`;
  if (!String(a.headers['content-type'] ?? '').includes('application/json')) return `not JSON: ${a.text.slice(0, 80)}`;
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `unparsable body: ${a.text.slice(0, 80)}`;
  }
  const e = (body as { error?: { code?: unknown; message?: unknown } }).error;
  if (!e || typeof e.code !== 'string' || typeof e.message !== 'string') return `no {error:{code,message}}: ${a.text}`;
  if (/\n\s+at |node_modules|\.ts:\d+/.test(a.text)) return `a stack trace in the body: ${a.text.slice(0, 200)}`;
  return null;
}

/**
 * What a refused request must leave as it was: every Redis key with its type and size (job
 * hashes, queue lists, findings, batches), the gateway's pid and the launcher's restart counts.
 */
export async function fingerprint(redis: RedisClient): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [k, type] of allKeys(redis)) {
    const size =
      type === 'hash'
        ? await redis.hlen(k)
        : type === 'list'
          ? await redis.llen(k)
          : type === 'zset'
            ? await redis.zcard(k)
            : type === 'set'
              ? await redis.scard(k)
              : type === 'string'
                ? await redis.strlen(k)
                : -1;
    out.set(k, `${type}:${size}`);
  }
  return out;
}

export function fingerprintDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => a.get(k) !== b.get(k)).map((k) => `${k}: ${a.get(k) ?? '-'} → ${b.get(k) ?? '-'}`);
}

/** Everything Redis holds, as text (to look for a secret in it). */
export async function redisText(redis: RedisClient): Promise<string> {
  const parts: string[] = [];
  for await (const [k, type] of allKeys(redis)) {
    parts.push(k);
    if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(k)));
    else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(k, 0, -1)));
    else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(k, 0, -1)));
    else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(k)));
    else if (type === 'string') parts.push((await redis.get(k)) ?? '');
    else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(k, '-', '+')));
  }
  return parts.join('\n');
}

/** Every key Redis holds, with its type (SCAN, a thousand at a time). */
async function* allKeys(redis: RedisClient): AsyncGenerator<[string, string]> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) yield [k, await redis.type(k)];
  } while (cursor !== '0');
}

/** Bytes straight onto a socket (requests node's HTTP parser refuses); the answer's status, 0 if none. */
export function rawSocket(stack: Stack, data: string): Promise<{ status: number; text: string }> {
  const url = new URL(stack.apiUrl);
  return new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname, () => s.end(data));
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('utf8')));
    s.on('close', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(out)?.[1] ?? 0), text: out }));
    s.on('error', () => resolve({ status: 0, text: out }));
  });
}
