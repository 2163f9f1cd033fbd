import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisSettings {
  url: string;
  cluster?: boolean;
}

export type RedisClient = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
}

export interface ParsedRedisUrl {
  nodes: RedisNode[];
  username?: string | undefined;
  password?: string | undefined;
  db: number;
  tls: boolean;
}

/**
 * `redis://[user:pass@]host:port[/db]`, or for Redis Cluster several seed nodes
 * `redis://h1:p1,h2:p2,h3:p3` (WHATWG URLs refuse the comma list, so it is parsed here).
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  const m = /^(rediss?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(?:\/(\d+))?\/?$/.exec(url.trim());
  if (!m) throw new Error(`"${url}" is not a Redis URL (redis://host:port or redis://h1:p1,h2:p2 for a cluster)`);
  const nodes = (m[4] ?? '').split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const host = i > 0 ? hp.slice(0, i) : hp;
    const port = i > 0 ? Number(hp.slice(i + 1)) : 6379;
    if (!host || !Number.isInteger(port) || port < 1 || port > 65535)
      throw new Error(`"${hp}" in ${url} is not host:port`);
    return { host: host.replace(/^\[|\]$/g, ''), port };
  });
  return {
    nodes,
    username: m[2] ? decodeURIComponent(m[2]) : undefined,
    password: m[3] ? decodeURIComponent(m[3]) : undefined,
    db: m[5] ? Number(m[5]) : 0,
    tls: m[1] === 'rediss',
  };
}

/**
 * Redis connections. Workers block on Redis and must wait through outages
 * (`maxRetriesPerRequest: null`); producers (the API) fail fast (`enableOfflineQueue: false`).
 */
export function createRedis(
  settings: RedisSettings,
  role: 'worker' | 'producer',
  extra: RedisOptions = {},
): RedisClient {
  const base: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000, ...extra };
  const p = parseRedisUrl(settings.url);
  const auth = {
    ...(p.username ? { username: p.username } : {}),
    ...(p.password ? { password: p.password } : {}),
    ...(p.tls ? { tls: {} } : {}),
  };
  if (settings.cluster) {
    return new Cluster(p.nodes, { redisOptions: { ...base, ...auth }, enableOfflineQueue: role === 'worker' });
  }
  const node = p.nodes[0] as RedisNode;
  return new Redis({ ...base, ...auth, host: node.host, port: node.port, db: p.db });
}

/** Wait until a connection is ready (producers are created with no offline queue). */
export async function waitReady(client: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
