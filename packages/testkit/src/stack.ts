import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, startRedisServer, type RedisServerHandle } from './redis-provider';

export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

export interface StackOptions {
  /** Extra environment for every service (tier overrides, AEGIS_KEY_MAX_AGE_DAYS=0, …). */
  env?: Record<string, string>;
  /** Redis with AOF, for restart tests. */
  appendonly?: boolean;
  /** Worker processes per tier. */
  workersPerTier?: number;
  /** Use this Redis instead of a private one (its URL). */
  redisUrl?: string;
  readyTimeoutMs?: number;
}

export interface StackState {
  pids: Record<string, number | null>;
  restarts: Record<string, number>;
  ports: Record<string, number>;
}

/** The local stack as `pnpm start` runs it (real processes), on private ports and a private Redis. */
export interface Stack {
  apiUrl: string;
  token: string;
  sandboxUrl: string;
  snapshotDir: string;
  redisUrl: string;
  redis?: RedisServerHandle | undefined;
  process: ChildProcess;
  /** Everything the stack printed so far (JSON log lines of every service, and the launcher's lines). */
  output(): string;
  /** JSON log lines parsed, the launcher's plain lines left out. */
  logs(): Record<string, unknown>[];
  state(): StackState;
  /** Call the API with the stack's token. */
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string | null,
  ): Promise<{ status: number; body: unknown; text: string }>;
  stop(): Promise<void>;
}

/** Start `scripts/start.ts` exactly as `pnpm start` does, and wait for the gateway. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const redis = opts.redisUrl ? undefined : await startRedisServer({ appendonly: opts.appendonly ?? false });
  const redisUrl = opts.redisUrl ?? (redis as RedisServerHandle).url;
  const port = await freePort();
  const sandboxPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'aegis-stack-'));
  const snapshotDir = join(dir, 'snapshots');
  const stateFile = join(dir, 'stack.json');
  const token = `test-${randomBytes(16).toString('hex')}`;
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'start.ts')], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      PORT: String(port),
      REDIS_URL: redisUrl,
      AEGIS_API_TOKEN: token,
      AEGIS_SANDBOX_PORT: String(sandboxPort),
      AEGIS_SNAPSHOT_STORE: `file://${snapshotDir}`,
      AEGIS_CLOUD: 'sandbox',
      AEGIS_STACK_STATE_FILE: stateFile,
      // Test stacks publish themselves in their own folder, never over a developer's running stack.
      AEGIS_LOCAL_STACK_FILE: join(dir, 'local-stack.json'),
      AEGIS_WORKERS_PER_TIER: String(opts.workersPerTier ?? 1),
      LOG_LEVEL: 'info',
      ...(opts.env ?? {}),
    },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const apiUrl = `http://127.0.0.1:${port}`;
  const stack: Stack = {
    apiUrl,
    token,
    sandboxUrl: `http://127.0.0.1:${sandboxPort}`,
    snapshotDir,
    redisUrl,
    redis,
    process: child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    state: () => JSON.parse(readFileSync(stateFile, 'utf8')) as StackState,
    api: async (method, path, body, tok) => {
      const headers: Record<string, string> = {};
      const t = tok === undefined ? token : tok;
      if (t) headers.authorization = `Bearer ${t}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: res.status, body: parsed, text };
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        try {
          process.kill(-(child.pid as number), 'SIGTERM');
        } catch {
          /* already gone */
        }
        const t = setTimeout(() => {
          try {
            process.kill(-(child.pid as number), 'SIGKILL');
          } catch {
            /* gone */
          }
        }, 15_000);
        await exited;
        clearTimeout(t);
      }
      await redis?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 90_000);
  for (;;) {
    try {
      const r = await fetch(`${apiUrl}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (child.exitCode !== null) throw new Error(`the stack exited (${child.exitCode}):\n${out.slice(-3000)}`);
    if (Date.now() > deadline) {
      await stack.stop();
      throw new Error(`the stack did not become healthy:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Workers and the snapshot service start beside the gateway: wait for every process to be ready.
  for (;;) {
    const st = (() => {
      try {
        return stack.state();
      } catch {
        return null;
      }
    })();
    const readyLines = out
      .split('\n')
      .filter((l) => l.includes('"msg":"worker ready"') || l.includes('"msg":"snapshot service ready"')).length;
    const expected = 3 * (opts.workersPerTier ?? 1) + 1;
    if (st && readyLines >= expected) break;
    if (Date.now() > deadline) {
      await stack.stop();
      throw new Error(`services not ready (${readyLines}/${expected}):\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return stack;
}
