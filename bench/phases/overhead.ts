import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_TIERS } from '../../packages/core/src/tiers';
import { spawnTs, type Child } from '../lib/child';
import { summariseProfile, type ProfileSummary } from '../lib/cpuprofile';
import { Queue } from '../lib/deps';
import { busyShare, cpuSeconds, machineTicks } from '../lib/proc';
import { dropGroups, seedOpenSshGroups, stillOpen } from '../lib/sandbox';
import { pipelineSpans, parseLines, type SpanSummary } from '../lib/spans';
import {
  addWorker,
  execute,
  itemRecords,
  commandsPerItem,
  planBatch,
  redisCommandCalls,
  redisUsedMemory,
  removeWorker,
  stackCpu,
  waitBatch,
  type BenchStack,
} from '../lib/stack';
import { mean, percentile, pollUntil, round } from '../lib/stats';
import type { Sizes } from '../lib/config';

export interface PipelineRun {
  items: number;
  items_per_s: number;
  /** Dispatcher CPU per item: gateway + workers + snapshot service, ms. */
  cpu_ms_per_item: number;
  cpu_ms_per_item_by_process: Record<string, number>;
  redis_cpu_ms_per_item: number;
  /** This process's CPU per item: the in-process aws-sandbox, plus the bench's own polling. */
  sandbox_cpu_ms_per_item: number;
  failed: number;
  /** Redis commands per item by name (BullMQ's and ours; the pipeline's polling of counters excluded). */
  redis_commands_per_item: Record<string, number>;
  /** Redis memory the finished items left (records, outcomes, kept jobs, re-check jobs), bytes each. */
  redis_bytes_per_finished_item: number;
  spans: SpanSummary;
}

export interface BaselineRun {
  items: number;
  items_per_s: number;
  cpu_ms_per_item: number;
  redis_cpu_ms_per_item: number;
  sandbox_cpu_ms_per_item: number;
  run_ms_p50: number;
  /** Mean time a job ran in the worker (processed to finished). */
  run_ms_mean: number;
  left_open: number;
  redis_commands_per_item: Record<string, number>;
}

export interface OverheadResult {
  pipeline: PipelineRun[];
  baseline: BaselineRun[];
  pipeline_items_per_s: number;
  baseline_items_per_s: number;
  overhead_ratio: number;
  /**
   * The same ratio from CPU per item (worker + Redis + sandbox, summed): what the items/s ratio
   * tends to when the machine is the bottleneck and every process gets the CPU it asks for.
   */
  overhead_ratio_cpu: number;
  concurrency: number;
  machine_busy_pct: number;
  /** `--cpu-prof` of one pipeline T1 worker and of one bare worker, with the items each ran. */
  profile: { pipeline: ProfiledWorker; baseline: ProfiledWorker } | null;
}

export interface ProfiledWorker {
  items: number;
  summary: ProfileSummary;
}

let round_ = 0;

function cpuByName(bs: BenchStack): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, pid] of Object.entries(bs.stack.state().pids))
    if (pid !== null && name !== 'aws-sandbox') out[name] = cpuSeconds(pid) ?? 0;
  bs.extraWorkers.forEach((w, i) => (out[`extra-worker-${i + 1}`] = cpuSeconds(w.pid) ?? 0));
  return out;
}

const benchCpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One batch of `n` open-SSH findings through the whole dispatcher, timed from execute to the last outcome. */
export async function runPipeline(bs: BenchStack, n: number, tag: string): Promise<PipelineRun> {
  const groups = seedOpenSshGroups(bs.sandbox, n);
  const { ids, batchId } = await planBatch(bs, `${tag}-${++round_}`, groups);
  const mem0 = await redisUsedMemory(bs.redis);
  const cmd0 = await redisCommandCalls(bs.redis);
  let polls = 0;
  const names0 = cpuByName(bs);
  const cpu0 = stackCpu(bs);
  const b0 = benchCpu();
  const t0 = await execute(bs, batchId, ids);
  const c = await waitBatch(bs, batchId, n, {
    everyMs: 50,
    timeoutMs: 60_000 + n * 200,
    onSample: () => polls++,
  });
  const cpu1 = stackCpu(bs);
  const b1 = benchCpu();
  const names1 = cpuByName(bs);
  const cmd1 = await redisCommandCalls(bs.redis);
  // The bench's own HGETALL of the counters is not the dispatcher's.
  cmd1.hgetall = (cmd1.hgetall ?? 0) - polls;
  const records = await itemRecords(bs, batchId);
  const tEnd = Math.max(...records.map((r) => (r.finished_at ? Date.parse(r.finished_at) : 0)));
  const mem1 = await redisUsedMemory(bs.redis);
  const spans = pipelineSpans(
    parseLines([bs.stack.output(), ...bs.extraWorkers.map((w) => w.lines.join('\n'))].join('\n')),
    batchId,
    records,
  );
  dropGroups(bs.sandbox, groups);
  const perItem = (s: number) => round((s * 1000) / n, 3);
  return {
    items: n,
    items_per_s: round(n / ((tEnd - t0) / 1000), 1),
    cpu_ms_per_item: perItem(cpu1.dispatcher - cpu0.dispatcher),
    cpu_ms_per_item_by_process: Object.fromEntries(
      Object.entries(names1).map(([k, v]) => [k, perItem(v - (names0[k] ?? v))]),
    ),
    redis_cpu_ms_per_item: perItem(cpu1.redis - cpu0.redis),
    sandbox_cpu_ms_per_item: perItem(b1 - b0),
    failed: c.failed + c.timed_out + c.cancelled,
    redis_commands_per_item: commandsPerItem(cmd0, cmd1, n),
    redis_bytes_per_finished_item: Math.round((mem1 - mem0) / n),
    spans,
  };
}

export interface BaselineWorker {
  queue: Queue<{ group_id: string }>;
  worker: Child;
}

/** A bare BullMQ worker process (bench/baseline-worker.ts), by default at the T1 concurrency, on the stack's Redis. */
export async function startBaselineWorker(
  bs: BenchStack,
  name: string,
  nodeArgs: string[] = [],
  concurrency: number = DEFAULT_TIERS.T1.concurrency,
): Promise<BaselineWorker> {
  const redisUrl = new URL(bs.stack.redisUrl);
  const connection = { host: redisUrl.hostname, port: Number(redisUrl.port), maxRetriesPerRequest: null };
  return {
    queue: new Queue<{ group_id: string }>(name, { connection, prefix: 'benchbase' }),
    worker: await spawnTs(
      'bench/baseline-worker.ts',
      {
        REDIS_URL: bs.stack.redisUrl,
        BENCH_QUEUE: name,
        BENCH_PREFIX: 'benchbase',
        BENCH_ENDPOINT: bs.sandbox.url,
        BENCH_CONCURRENCY: String(concurrency),
      },
      'baseline worker ready',
      { nodeArgs },
    ),
  };
}

/** `n` open-SSH groups through a bare worker: items/s, CPU and Redis figures, run time per job. */
export async function runBaselineBatch(
  bs: BenchStack,
  { queue, worker }: BaselineWorker,
  n: number,
): Promise<BaselineRun> {
  const redisPid = bs.stack.redis?.process.pid ?? 0;
  const groups = seedOpenSshGroups(bs.sandbox, n);
  const completedKey = queue.keys.completed ?? '';
  const done0 = await bs.redis.zcard(completedKey);
  const cmd0 = await redisCommandCalls(bs.redis);
  let polls = 0;
  const w0 = cpuSeconds(worker.pid) ?? 0;
  const r0 = cpuSeconds(redisPid) ?? 0;
  const b0 = benchCpu();
  const t0 = Date.now();
  for (let i = 0; i < n; i += 1000)
    await queue.addBulk(groups.slice(i, i + 1000).map((g) => ({ name: 'fix', data: { group_id: g } })));
  await pollUntil(
    'baseline run',
    async () => {
      polls++;
      return (await bs.redis.zcard(completedKey)) >= done0 + n ? true : null;
    },
    { everyMs: 50, timeoutMs: 60_000 + n * 100 },
  );
  const cmd1 = await redisCommandCalls(bs.redis);
  // The bench's polling, not the worker's.
  cmd1.zcard = (cmd1.zcard ?? 0) - polls;
  const w1 = cpuSeconds(worker.pid) ?? 0;
  const r1 = cpuSeconds(redisPid) ?? 0;
  const b1 = benchCpu();
  const jobs = await queue.getJobs(['completed'], 0, n - 1, false);
  const tEnd = Math.max(...jobs.map((j) => j.finishedOn ?? 0));
  const runMs = jobs.map((j) => (j.finishedOn ?? 0) - (j.processedOn ?? 0));
  const left = stillOpen(bs.sandbox, groups);
  dropGroups(bs.sandbox, groups);
  return {
    items: n,
    items_per_s: round(n / ((tEnd - t0) / 1000), 1),
    cpu_ms_per_item: round(((w1 - w0) * 1000) / n, 3),
    redis_cpu_ms_per_item: round(((r1 - r0) * 1000) / n, 3),
    sandbox_cpu_ms_per_item: round(((b1 - b0) * 1000) / n, 3),
    run_ms_p50: round(percentile(runMs, 50), 1),
    run_ms_mean: round(mean(runMs), 1),
    left_open: left,
    redis_commands_per_item: commandsPerItem(cmd0, cmd1, n),
  };
}

export async function runOverhead(
  bs: BenchStack,
  sizes: Sizes,
  profileDir: string | null,
  say: (m: string) => void,
): Promise<OverheadResult> {
  const concurrency = DEFAULT_TIERS.T1.concurrency;
  const startBaseline = (name: string, nodeArgs: string[] = []) => startBaselineWorker(bs, name, nodeArgs);
  const runBaseline = (b: BaselineWorker, n: number) => runBaselineBatch(bs, b, n);

  /** The same work under --cpu-prof: a second pipeline T1 worker beside the first, and a bare worker alone. */
  const profileBoth = async (n: number) => {
    const dir = profileDir ?? mkdtempSync(join(tmpdir(), 'aegis-bench-prof-'));
    mkdirSync(dir, { recursive: true });
    const newest = (before: Set<string>) =>
      readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && !before.has(f)) ?? null;
    try {
      let before = new Set(readdirSync(dir));
      const prof = await startBaseline('bench-baseline-prof', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const bStart = Date.now();
      await runBaseline(prof, n);
      await prof.worker.stop();
      await prof.queue.close();
      const bFile = newest(before);
      before = new Set(readdirSync(dir));
      const w = await addWorker(bs, 'T1', ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
      const pStart = Date.now();
      await runPipeline(bs, n, 'prof');
      await removeWorker(bs, w);
      const pFile = newest(before);
      if (!bFile || !pFile) throw new Error(`--cpu-prof wrote no profile in ${dir}`);
      const result = {
        baseline: { items: n, summary: summariseProfile(join(dir, bFile), bStart - prof.worker.spawnedAt) },
        pipeline: {
          items: w.lines.filter((l) => l.includes('"action":"finish"')).length,
          summary: summariseProfile(join(dir, pFile), pStart - w.spawnedAt),
        },
      };
      say(
        `profiled: bare worker ${round(result.baseline.summary.busy_ms / n, 2)} ms CPU/item, pipeline T1 worker ${round(result.pipeline.summary.busy_ms / Math.max(1, result.pipeline.items), 2)} ms CPU/item${profileDir ? ` (profiles in ${dir})` : ''}`,
      );
      return result;
    } finally {
      if (!profileDir) rmSync(dir, { recursive: true, force: true });
    }
  };

  const ticks0 = machineTicks();
  const pipeline: PipelineRun[] = [];
  const baseline: BaselineRun[] = [];
  const bare = await startBaseline('bench-baseline');
  try {
    if (sizes.warmup) {
      // Warm both paths once (JIT, connections, the SDK's first-call set-up): round 1 is no cold start.
      await runBaseline(bare, Math.min(50, sizes.overheadItems));
      await runPipeline(bs, Math.min(50, sizes.overheadItems), 'warm');
    }
    for (let r = 0; r < sizes.overheadRounds; r++) {
      const b = await runBaseline(bare, sizes.overheadItems);
      say(`overhead round ${r + 1}: baseline ${b.items_per_s} items/s, ${b.cpu_ms_per_item} ms CPU/item`);
      const p = await runPipeline(bs, sizes.overheadItems, 'ovh');
      say(`overhead round ${r + 1}: pipeline ${p.items_per_s} items/s, ${p.cpu_ms_per_item} ms CPU/item`);
      baseline.push(b);
      pipeline.push(p);
    }
  } finally {
    await bare.worker.stop();
    await bare.queue.close();
  }
  const ticks1 = machineTicks();
  const profile = sizes.profileItems > 0 ? await profileBoth(sizes.profileItems) : null;

  const pipelineRate = mean(pipeline.map((p) => p.items_per_s));
  const baselineRate = mean(baseline.map((b) => b.items_per_s));
  return {
    pipeline,
    baseline,
    pipeline_items_per_s: round(pipelineRate, 1),
    baseline_items_per_s: round(baselineRate, 1),
    overhead_ratio: round(baselineRate > 0 ? pipelineRate / baselineRate : 0, 3),
    overhead_ratio_cpu: round(
      mean(baseline.map((b) => b.cpu_ms_per_item + b.redis_cpu_ms_per_item + b.sandbox_cpu_ms_per_item)) /
        Math.max(
          1e-9,
          mean(pipeline.map((p) => p.cpu_ms_per_item + p.redis_cpu_ms_per_item + p.sandbox_cpu_ms_per_item)),
        ),
      3,
    ),
    concurrency,
    machine_busy_pct: round(busyShare(ticks0, ticks1) * 100, 1),
    profile,
  };
}
