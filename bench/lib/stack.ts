import type { SandboxHandle } from '../../services/aws-sandbox/src';
import { Keys } from '../../packages/dispatch/src/keys';
import { ItemRecord, type ItemCounts } from '../../packages/dispatch/src/records';
import { freePort, startStack, type Stack } from '../../packages/testkit/src';
import { spawnTs, type Child } from './child';
import { Redis } from './deps';
import { cpuOf } from './proc';
import { ACCOUNT, REGION } from './sandbox';
import { pollUntil } from './stats';

export const PREFIX = 'aegis';
export const keys = new Keys(PREFIX);

/** A stack (`pnpm start` as the tests run it) whose cloud is an aws-sandbox in this process. */
export interface BenchStack {
  stack: Stack;
  sandbox: SandboxHandle;
  /** The bench's own connection to the stack's Redis (reads counters, INFO; never the app's keys). */
  redis: Redis;
  /** Environment every dispatcher process of this stack got on top of startStack's. */
  env: Record<string, string>;
  /** Worker replicas the bench added (`addWorker`). */
  extraWorkers: Child[];
  /** Pids of the dispatcher's processes: gateway, workers of every tier, snapshot service. */
  dispatcherPids(): number[];
  pidOf(name: string): number | null;
  stop(): Promise<void>;
}

export async function startBenchStack(
  sandbox: SandboxHandle,
  extraEnv: Record<string, string>,
  workersPerTier = 1,
): Promise<BenchStack> {
  const env: Record<string, string> = {
    // The standard AWS credential chain and endpoint variables, pointed at the in-process sandbox.
    AEGIS_CLOUD: 'aws',
    AWS_ENDPOINT_URL: sandbox.url,
    AWS_ACCESS_KEY_ID: 'sandbox',
    AWS_SECRET_ACCESS_KEY: 'sandbox',
    AWS_REGION: REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extraEnv,
  };
  const stack = await startStack({ env, workersPerTier, readyTimeoutMs: 180_000 });
  const redis = new Redis(stack.redisUrl, { maxRetriesPerRequest: 3 });
  const bs: BenchStack = {
    stack,
    sandbox,
    redis,
    env,
    extraWorkers: [],
    dispatcherPids: () => {
      const pids = Object.entries(stack.state().pids)
        .filter(([name, pid]) => name !== 'aws-sandbox' && pid !== null)
        .map(([, pid]) => pid as number);
      return [...pids, ...bs.extraWorkers.map((w) => w.pid)];
    },
    pidOf: (name) => stack.state().pids[name] ?? null,
    stop: async () => {
      await Promise.all(bs.extraWorkers.map((w) => w.stop()));
      redis.disconnect();
      await stack.stop();
    },
  };
  return bs;
}

/**
 * Adds a worker replica of `tier` to a running stack: the same script and environment as the
 * launcher gives its own (scripts/start.ts), so scaling one tier restarts nothing else.
 * `nodeArgs` lets a replica run under `--cpu-prof`.
 */
export async function addWorker(bs: BenchStack, tier: 'T1' | 'T2' | 'T3', nodeArgs: string[] = []): Promise<Child> {
  const snapshotPort = bs.stack.state().ports.snapshot;
  if (!snapshotPort) throw new Error('the stack has no snapshot service port');
  const w = await spawnTs(
    'services/worker/src/main.ts',
    {
      ...bs.env,
      REDIS_URL: bs.stack.redisUrl,
      AEGIS_SNAPSHOT_URL: `http://127.0.0.1:${snapshotPort}`,
      AEGIS_TIER: tier,
      AEGIS_METRICS_PORT: String(await freePort()),
      AEGIS_METRICS_HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
    },
    '"msg":"worker ready"',
    { nodeArgs },
  );
  bs.extraWorkers.push(w);
  return w;
}

/** Removes a replica added by `addWorker` and waits for it to exit. */
export async function removeWorker(bs: BenchStack, w: Child): Promise<void> {
  await w.stop();
  bs.extraWorkers = bs.extraWorkers.filter((x) => x !== w);
}

// --- the API, as a scanner and an operator use it

async function call(bs: BenchStack, method: string, path: string, body: unknown, want: number): Promise<unknown> {
  const r = await bs.stack.api(method, path, body);
  if (r.status !== want) throw new Error(`${method} ${path}: HTTP ${r.status}: ${r.text.slice(0, 400)}`);
  return r.body;
}

export function findingsFor(prefix: string, groups: readonly string[]) {
  return groups.map((sg, i) => ({
    id: `${prefix}-${i}`,
    handler: 'block-public-ssh',
    provider: 'aws',
    account_id: ACCOUNT,
    region: REGION,
    resource_id: sg,
  }));
}

/** Upserts findings for `groups` (1,000 per request) and returns their ids. */
export async function postFindings(bs: BenchStack, prefix: string, groups: readonly string[]): Promise<string[]> {
  const all = findingsFor(prefix, groups);
  for (let i = 0; i < all.length; i += 1000)
    await call(bs, 'POST', '/api/v1/findings', { findings: all.slice(i, i + 1000) }, 200);
  return all.map((f) => f.id);
}

export async function dryRun(bs: BenchStack, ids: readonly string[]): Promise<{ batchId: string; ms: number }> {
  const t0 = performance.now();
  const out = (await call(bs, 'POST', '/api/v1/remediations', { finding_ids: ids, dry_run: true }, 200)) as {
    batch_id: string;
  };
  return { batchId: out.batch_id, ms: performance.now() - t0 };
}

/** Executes a dry run; returns the wall-clock time just before the request was sent. */
export async function execute(bs: BenchStack, batchId: string, ids: readonly string[]): Promise<number> {
  const t0 = Date.now();
  await call(bs, 'POST', '/api/v1/remediations', { batch_id: batchId, finding_ids: ids, dry_run: false }, 202);
  return t0;
}

/** Seeds nothing: findings, dry run and the batch id for groups already in the sandbox. */
export async function planBatch(bs: BenchStack, prefix: string, groups: readonly string[]) {
  const ids = await postFindings(bs, prefix, groups);
  const { batchId, ms } = await dryRun(bs, ids);
  return { ids, batchId, dryRunMs: ms };
}

// --- progress and outcomes, read from Redis

/** An executed batch's item counters, as the dispatcher keeps them. */
export type Counts = ItemCounts;

export async function counts(bs: BenchStack, batchId: string): Promise<Counts> {
  const h = await bs.redis.hgetall(keys.batchCounts(batchId));
  const n = (k: string) => Number(h[k] ?? 0);
  return {
    queued: n('queued'),
    running: n('running'),
    succeeded: n('succeeded'),
    noop: n('noop'),
    failed: n('failed'),
    timed_out: n('timed_out'),
    cancelled: n('cancelled'),
  };
}

export const finished = (c: Counts) => c.succeeded + c.noop + c.failed + c.timed_out + c.cancelled;

/**
 * Waits until every item of a batch reached an end state. `onSample` sees the counters at each
 * poll (progress curves); bounded by `timeoutMs`.
 */
export async function waitBatch(
  bs: BenchStack,
  batchId: string,
  n: number,
  opts: { everyMs: number; timeoutMs: number; onSample?: (c: Counts) => void },
): Promise<Counts> {
  return pollUntil(
    `batch ${batchId}`,
    async () => {
      const c = await counts(bs, batchId);
      opts.onSample?.(c);
      return finished(c) >= n ? c : null;
    },
    opts,
  );
}

export async function itemRecords(bs: BenchStack, batchId: string): Promise<ItemRecord[]> {
  const all = await bs.redis.hgetall(keys.batchItems(batchId));
  return Object.values(all).map((r) => ItemRecord.parse(JSON.parse(r)));
}

/** Redis' own memory figure (INFO memory used_memory), bytes. */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const m = /used_memory:(\d+)/.exec(info);
  if (!m) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** Calls per Redis command so far (INFO commandstats), to count what one item costs in commands. */
export async function redisCommandCalls(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats');
  const out: Record<string, number> = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] ?? ''] = Number(m[2]);
  return out;
}

/** Commands per item between two `redisCommandCalls` samples, most frequent first (INFO itself left out). */
export function commandsPerItem(
  a: Record<string, number>,
  b: Record<string, number>,
  n: number,
): Record<string, number> {
  return Object.fromEntries(
    Object.entries(b)
      .filter(([k]) => k !== 'info')
      .map(([k, v]) => [k, Math.round(((v - (a[k] ?? 0)) / n) * 100) / 100] as const)
      .filter(([, v]) => v > 0)
      .sort((x, y) => y[1] - x[1]),
  );
}

/** CPU seconds of the stack's dispatcher processes and of its Redis, sampled together. */
export function stackCpu(bs: BenchStack): { dispatcher: number; redis: number } {
  const redisPid = bs.stack.redis?.process.pid;
  return { dispatcher: cpuOf(bs.dispatcherPids()), redis: redisPid ? cpuOf([redisPid]) : 0 };
}
