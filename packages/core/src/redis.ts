import { Cluster, Redis, type RedisOptions } from 'ioredis';

export interface RedisSettings {
  url: string;
  cluster?: boolean;
}

export type RedisClient = Redis | Cluster;

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
  if (settings.cluster) {
    const u = new URL(settings.url);
    const nodes = u.host.split(',').map((h) => {
      const [host, port] = h.split(':');
      return { host: host ?? '127.0.0.1', port: Number(port ?? 6379) };
    });
    return new Cluster(nodes, { redisOptions: base, enableOfflineQueue: role === 'worker' });
  }
  return new Redis(settings.url, base);
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
