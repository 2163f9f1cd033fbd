/**
 * `pnpm start`: the whole local stack in one command, on embedded defaults — Redis from REDIS_URL
 * (a private redis-server when nothing answers), the aws-sandbox as the cloud, snapshots on disk,
 * the gateway, one worker per tier and the snapshot service as separate processes. A process that
 * dies is restarted (as Kubernetes restarts a pod). Ctrl-C stops everything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { removeLocalStack, writeLocalStack } from '../packages/cli/src/local-stack';
import { freePort } from '../packages/core/src/net';

const ROOT = resolve(__dirname, '..');

const Env = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  AEGIS_CLOUD: z.enum(['aws', 'sandbox']).default('sandbox'),
  AEGIS_SANDBOX_PORT: z.coerce.number().int().min(1).max(65535).default(4566),
  AEGIS_SNAPSHOT_STORE: z.string().default(`file://${join(ROOT, '.aegis', 'snapshots')}`),
  AEGIS_SNAPSHOT_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  AEGIS_API_TOKEN: z.string().min(16).optional(),
  AEGIS_STACK_STATE_FILE: z.string().optional(),
  AEGIS_WORKERS_PER_TIER: z.coerce.number().int().min(1).max(8).default(1),
});

function say(msg: string): void {
  process.stdout.write(`aegis: ${msg}\n`);
}

function canConnect(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((res) => {
    const c = createConnection({ host, port });
    const done = (ok: boolean) => {
      c.destroy();
      res(ok);
    };
    c.setTimeout(timeoutMs, () => done(false));
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
  });
}

async function waitHttp(url: string, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status < 500) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

interface Svc {
  name: string;
  script: string;
  env: Record<string, string>;
  child?: ChildProcess;
  restarts: number;
  startedAt: number;
}

const services: Svc[] = [];
let stopping = false;

function pipeLines(stream: NodeJS.ReadableStream | null, out: NodeJS.WriteStream): void {
  if (!stream) return;
  // Whole lines only, so JSON log lines of different processes never interleave mid-line.
  createInterface({ input: stream }).on('line', (line) => out.write(`${line}\n`));
}

function launch(s: Svc): void {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, s.script)], {
    cwd: ROOT,
    env: { ...process.env, ...s.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  s.child = child;
  s.startedAt = Date.now();
  pipeLines(child.stdout, process.stdout);
  pipeLines(child.stderr, process.stderr);
  child.on('exit', (code, signal) => {
    if (stopping) return;
    s.restarts += 1;
    // Back off when a process keeps dying at start (a config error would otherwise spin).
    const quick = Date.now() - s.startedAt < 5000;
    const delay = quick ? Math.min(30_000, 1000 * 2 ** Math.min(s.restarts, 5)) : 1000;
    say(
      `${s.name} exited (${signal ?? `code ${code}`}); restarting in ${Math.round(delay / 1000)} s (restart #${s.restarts})`,
    );
    setTimeout(() => {
      if (!stopping) {
        launch(s);
        writeState();
      }
    }, delay);
  });
}

let stateFile: string | undefined;
function writeState(): void {
  if (!stateFile) return;
  const pids = Object.fromEntries(services.map((s) => [s.name, s.child?.pid ?? null]));
  const restarts = Object.fromEntries(services.map((s) => [s.name, s.restarts]));
  // Written aside, then renamed over: a reader never sees the file truncated or half written.
  const tmp = `${stateFile}.${process.pid}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify({
      pids,
      restarts,
      ports: Object.fromEntries(
        services.map((s) => [
          s.name,
          Number(s.env.PORT ?? s.env.AEGIS_METRICS_PORT ?? s.env.AEGIS_SNAPSHOT_PORT ?? s.env.AEGIS_SANDBOX_PORT ?? 0),
        ]),
      ),
    }),
  );
  renameSync(tmp, stateFile);
}

async function main(): Promise<void> {
  const parsed = Env.safeParse(
    Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    for (const i of parsed.error.issues) process.stderr.write(`aegis: ${i.path.join('.')}: ${i.message}\n`);
    process.exit(78);
  }
  const env = parsed.data;
  stateFile = env.AEGIS_STACK_STATE_FILE;
  const extra: Svc[] = [];

  // Redis: the configured one, else a private redis-server (nothing kept on disk).
  let redisUrl = env.REDIS_URL;
  const first = /^rediss?:\/\/(?:[^@/]*@)?([^,/:]+)(?::(\d+))?/.exec(redisUrl);
  if (!first) {
    say(`REDIS_URL: "${redisUrl}" is not a Redis URL (redis://host:port)`);
    process.exit(78);
  }
  if (!(await canConnect(first[1] ?? '127.0.0.1', Number(first[2] ?? 6379)))) {
    if (spawnSync('sh', ['-c', 'command -v redis-server'], { stdio: 'ignore' }).status !== 0) {
      say(`no Redis answers at ${redisUrl} and redis-server is not installed (apt-get install redis-server)`);
      process.exit(1);
    }
    const port = await freePort();
    const dir = join(ROOT, '.aegis', 'redis');
    mkdirSync(dir, { recursive: true });
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    );
    extra.push({ name: 'redis', script: '', env: {}, child, restarts: 0, startedAt: Date.now() });
    redisUrl = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && !(await canConnect('127.0.0.1', port)); i++) await new Promise((r) => setTimeout(r, 100));
    say(`started a private redis-server on ${redisUrl} (AOF in .aegis/redis)`);
  }

  const token = env.AEGIS_API_TOKEN ?? `dev-${randomBytes(18).toString('base64url')}`;
  const snapshotPort = env.AEGIS_SNAPSHOT_PORT || (await freePort());
  const common: Record<string, string> = {
    REDIS_URL: redisUrl,
    AEGIS_CLOUD: env.AEGIS_CLOUD,
    AEGIS_SANDBOX_PORT: String(env.AEGIS_SANDBOX_PORT),
    AEGIS_SNAPSHOT_URL: `http://127.0.0.1:${snapshotPort}`,
    // The pinned SDK runs on Node 20; its notice about versions after January 2027 needing Node 22
    // is in docs/deploy.md rather than in every process's log as a non-JSON line.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED:
      process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ?? 'true',
  };
  if (env.AEGIS_SNAPSHOT_STORE.startsWith('file://')) {
    try {
      mkdirSync(env.AEGIS_SNAPSHOT_STORE.slice(7), { recursive: true });
    } catch (err) {
      // The snapshot service reports it too (not ready; every item fails snapshot_failed, nothing changes).
      say(`cannot create the snapshot folder ${env.AEGIS_SNAPSHOT_STORE}: ${(err as Error).message}`);
    }
  }

  if (env.AEGIS_CLOUD === 'sandbox') {
    services.push({
      name: 'aws-sandbox',
      script: 'services/aws-sandbox/src/main.ts',
      env: { ...common, AEGIS_SANDBOX_HOST: '127.0.0.1' },
      restarts: 0,
      startedAt: 0,
    });
  }
  services.push({
    name: 'snapshot',
    script: 'services/snapshot/src/main.ts',
    env: {
      ...common,
      AEGIS_SNAPSHOT_PORT: String(snapshotPort),
      AEGIS_SNAPSHOT_HOST: '127.0.0.1',
      AEGIS_SNAPSHOT_STORE: env.AEGIS_SNAPSHOT_STORE,
    },
    restarts: 0,
    startedAt: 0,
  });
  for (const tier of ['T1', 'T2', 'T3']) {
    for (let i = 1; i <= env.AEGIS_WORKERS_PER_TIER; i++) {
      const name =
        env.AEGIS_WORKERS_PER_TIER > 1 ? `worker-${tier.toLowerCase()}-${i}` : `worker-${tier.toLowerCase()}`;
      services.push({
        name,
        script: 'services/worker/src/main.ts',
        env: {
          ...common,
          AEGIS_TIER: tier,
          AEGIS_METRICS_PORT: String(await freePort()),
          AEGIS_METRICS_HOST: '127.0.0.1',
        },
        restarts: 0,
        startedAt: 0,
      });
    }
  }
  services.push({
    name: 'api-gateway',
    script: 'services/api-gateway/src/main.ts',
    env: { ...common, PORT: String(env.PORT), HOST: '127.0.0.1', AEGIS_API_TOKEN: token },
    restarts: 0,
    startedAt: 0,
  });

  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping every service`);
    removeLocalStack(process.pid);
    const all = [...services, ...extra];
    for (const s of all) s.child?.kill('SIGTERM');
    const force = setTimeout(() => {
      for (const s of all) s.child?.kill('SIGKILL');
      process.exit(130);
    }, 15_000);
    force.unref();
    void Promise.all(
      all.map(
        (s) =>
          new Promise<void>((r) =>
            !s.child || s.child.exitCode !== null || s.child.signalCode !== null
              ? r()
              : s.child.once('exit', () => r()),
          ),
      ),
    ).then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  const sandbox = services.find((s) => s.name === 'aws-sandbox');
  if (sandbox) {
    launch(sandbox);
    if (!(await waitHttp(`http://127.0.0.1:${env.AEGIS_SANDBOX_PORT}/_sandbox/state`, 60_000)))
      say('aws-sandbox did not answer within 60 s');
  }
  for (const s of services) if (s !== sandbox) launch(s);
  writeState();
  const ok = await waitHttp(`http://127.0.0.1:${env.PORT}/healthz`, 90_000);
  say(
    ok
      ? `stack up: API http://127.0.0.1:${env.PORT}  (cloud: ${env.AEGIS_CLOUD}, snapshots: ${env.AEGIS_SNAPSHOT_STORE})`
      : 'the gateway did not answer within 90 s',
  );
  // `./aegis` finds this stack (URL and token) without AEGIS_API_URL, as the runbook's CLI line runs.
  if (ok) writeLocalStack({ api_url: `http://127.0.0.1:${env.PORT}`, token, pid: process.pid });
  if (!env.AEGIS_API_TOKEN) say(`dev token (all scopes): ${token}`);
  else say('API token: the AEGIS_API_TOKEN you set');
  if (sandbox) printExample(env.PORT);
}

function printExample(port: number): void {
  const api = `http://127.0.0.1:${port}`;
  say(`try it (the sandbox seeded a security group open to the world on SSH):
  export API=${api} API_TOKEN=<the token above>
  SG=$(curl -s http://127.0.0.1:${process.env.AEGIS_SANDBOX_PORT ?? 4566}/_sandbox/state | jq -r '.seeded.security_group_id')
  curl -s -X POST $API/api/v1/findings -H "Authorization: Bearer $API_TOKEN" -H 'Content-Type: application/json' \\
    -d "{\\"findings\\":[{\\"id\\":\\"f-demo-ssh\\",\\"handler\\":\\"block-public-ssh\\",\\"provider\\":\\"aws\\",\\"account_id\\":\\"123456789012\\",\\"region\\":\\"us-east-1\\",\\"resource_id\\":\\"$SG\\"}]}"
  B=$(curl -s -X POST $API/api/v1/remediations -H "Authorization: Bearer $API_TOKEN" -d '{"finding_ids":["f-demo-ssh"],"dry_run":true}' | jq -r .batch_id)
  curl -s -X POST $API/api/v1/remediations -H "Authorization: Bearer $API_TOKEN" -d "{\\"batch_id\\":\\"$B\\",\\"finding_ids\\":[\\"f-demo-ssh\\"],\\"dry_run\\":false}"
  curl -s -H "Authorization: Bearer $API_TOKEN" $API/api/v1/remediations/$B | jq '{status, completed, failed, pending, elapsed_s}'
  (or: AEGIS_API_TOKEN=<token> ./aegis remediate --finding-ids f-demo-ssh --yes --watch)`);
}

void main();
