import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '@aegis/core';
import { Redis } from 'ioredis';

/** A Redis for one test file: its URL, a key prefix of its own, and how to let it go. */
export interface TestRedis {
  url: string;
  /** Unique per call: tests that share a server never see each other's keys or queues. */
  prefix: string;
  provider: 'env' | 'redis-server' | 'testcontainers';
  stop(): Promise<void>;
}

export { freePort };

function uniquePrefix(): string {
  return `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export function redisServerOnPath(): boolean {
  return spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status === 0;
}

export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => undefined);
    try {
      await c.connect();
      await c.ping();
      c.disconnect();
      return;
    } catch {
      c.disconnect();
      if (Date.now() > deadline) throw new Error(`redis at ${url} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export interface RedisServerHandle {
  url: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** Kill it (SIGKILL when `hard`), keeping its data folder for a restart. */
  kill(hard?: boolean): Promise<void>;
  /** Start it again on the same port and folder (AOF replayed when enabled). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A private redis-server on a free loopback port; `appendonly` for persistence and restart tests. */
export async function startRedisServer(
  opts: { appendonly?: boolean; port?: number; args?: string[] } = {},
): Promise<RedisServerHandle> {
  const port = opts.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'aegis-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.appendonly ? 'yes' : 'no',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    ...(opts.args ?? []),
  ];
  const url = `redis://127.0.0.1:${port}`;
  const launch = () => spawn('redis-server', args, { stdio: 'ignore' });
  const handle: RedisServerHandle = {
    url,
    port,
    dir,
    process: launch(),
    async kill(hard = false) {
      const p = handle.process;
      if (p.exitCode !== null || p.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        p.once('exit', () => resolve());
        p.kill(hard ? 'SIGKILL' : 'SIGTERM');
      });
    },
    async restart() {
      await handle.kill();
      handle.process = launch();
      await waitForRedis(url);
    },
    async stop() {
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitForRedis(url);
  return handle;
}

/**
 * The one Redis provider of every integration test: `REDIS_URL` if set, else a throwaway
 * `redis-server` when the binary is on PATH, else a testcontainers Redis.
 */
export async function getTestRedis(): Promise<TestRedis> {
  const prefix = uniquePrefix();
  const envUrl = process.env.REDIS_URL;
  if (envUrl) {
    await waitForRedis(envUrl);
    return { url: envUrl, prefix, provider: 'env', stop: async () => cleanupPrefix(envUrl, prefix) };
  }
  if (redisServerOnPath()) {
    const srv = await startRedisServer();
    return { url: srv.url, prefix, provider: 'redis-server', stop: () => srv.stop() };
  }
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  return {
    url: container.getConnectionUrl(),
    prefix,
    provider: 'testcontainers',
    stop: async () => void (await container.stop()),
  };
}

/** Remove every key a test wrote under its prefix on a shared server. */
export async function cleanupPrefix(url: string, prefix: string): Promise<void> {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', `*${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await c.del(...keys);
    } while (cursor !== '0');
  } finally {
    c.disconnect();
  }
}
