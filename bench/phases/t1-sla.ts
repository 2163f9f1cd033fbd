import { DEFAULT_TIERS } from '../../packages/core/src/tiers';
import { busyShare, machineTicks } from '../lib/proc';
import { dropGroups, seedOpenSshGroups } from '../lib/sandbox';
import {
  addWorker,
  execute,
  finished,
  itemRecords,
  planBatch,
  removeWorker,
  stackCpu,
  waitBatch,
  type BenchStack,
} from '../lib/stack';
import { pipelineSpans, parseLines, type SpanSummary } from '../lib/spans';
import { percentile, round } from '../lib/stats';
import type { Child } from '../lib/child';
import { runBaselineBatch, startBaselineWorker, type BaselineRun } from './overhead';
import type { Sizes } from '../lib/config';

export const SLA_S = 300;
/** The T1 tier's concurrency the stack runs with: the default, or AEGIS_T1_CONCURRENCY passed through to it. */
const T1_CONCURRENCY = Number(process.env.AEGIS_T1_CONCURRENCY ?? DEFAULT_TIERS.T1.concurrency);
export const LATENCY_MS: [number, number] = [50, 150];

export interface T1Run {
  replicas: number;
  items: number;
  dry_run_s: number;
  run_s: number;
  items_per_s: number;
  p50_s: number;
  p95_s: number;
  p99_s: number;
  sla_pct: number;
  failed: number;
  cpu_ms_per_item: number;
  machine_busy_pct: number;
  /** Mean time an item ran in a worker (first start to outcome): three cloud calls of 50-150 ms plus the dispatcher's steps. */
  item_run_ms: number;
  /**
   * What each item's slot cost beyond its run: concurrency × run time ÷ items − item_run_ms (taking
   * the next job, recording the last one, a slot left empty). With the run, what bounds items/s.
   */
  slot_gap_ms: number;
  /** Where an item's run goes, from the worker's log lines. */
  spans?: SpanSummary;
  /** Seconds since execute → items finished (the plot). */
  curve: { t: number; done: number }[];
}

export interface T1Result {
  concurrency: number;
  latency_ms: [number, number];
  headline: T1Run;
  scaling: T1Run[];
  /** GET /remediations/:id on the headline batch, after it finished (ms, two calls). */
  status_big_batch_ms: number[];
  /** A bare BullMQ worker (bench/baseline-worker.ts) with the same calls, latency and concurrency. */
  baseline?: { items: number; items_per_s: number; item_run_ms: number; slot_gap_ms: number };
}

async function runBurst(
  bs: BenchStack,
  n: number,
  replicas: number,
  tag: string,
): Promise<{ run: T1Run; batchId: string }> {
  const sb = bs.sandbox;
  sb.setLatency(undefined);
  const groups = seedOpenSshGroups(sb, n);
  const t0d = Date.now();
  const { ids, batchId } = await planBatch(bs, tag, groups);
  const dryRunS = (Date.now() - t0d) / 1000;
  // Latency for the execution only: the dry run is not what the SLA measures.
  sb.setLatency(LATENCY_MS);
  const curve: { t: number; done: number }[] = [];
  const cpu0 = stackCpu(bs);
  const ticks0 = machineTicks();
  const t0 = await execute(bs, batchId, ids);
  const perItemS = (3 * (LATENCY_MS[0] + LATENCY_MS[1])) / 2 / 1000;
  const c = await waitBatch(bs, batchId, n, {
    everyMs: n > 2000 ? 1000 : 250,
    timeoutMs: 180_000 + ((n * perItemS) / T1_CONCURRENCY) * 3000,
    onSample: (s) => curve.push({ t: round((Date.now() - t0) / 1000, 2), done: finished(s) }),
  });
  const ticks1 = machineTicks();
  const cpu1 = stackCpu(bs);
  sb.setLatency(undefined);
  const records = await itemRecords(bs, batchId);
  const totals = records.flatMap((r) =>
    r.finished_at ? [(Date.parse(r.finished_at) - Date.parse(r.enqueued_at)) / 1000] : [],
  );
  const tEnd = Math.max(...records.map((r) => (r.finished_at ? Date.parse(r.finished_at) : 0)));
  dropGroups(sb, groups);
  const runS = (tEnd - t0) / 1000;
  const runMs = records.flatMap((r) => (r.duration_ms === undefined ? [] : [r.duration_ms]));
  const itemRunMs = runMs.reduce((a, b) => a + b, 0) / Math.max(1, runMs.length);
  const run: T1Run = {
    replicas,
    items: n,
    dry_run_s: round(dryRunS, 1),
    run_s: round(runS, 1),
    items_per_s: round(n / runS, 1),
    p50_s: round(percentile(totals, 50), 1),
    p95_s: round(percentile(totals, 95), 1),
    p99_s: round(percentile(totals, 99), 1),
    sla_pct: round((totals.filter((t) => t <= SLA_S).length / n) * 100, 2),
    failed: c.failed + c.timed_out + c.cancelled,
    cpu_ms_per_item: round(((cpu1.dispatcher - cpu0.dispatcher) * 1000) / n, 2),
    machine_busy_pct: round(busyShare(ticks0, ticks1) * 100, 1),
    item_run_ms: round(itemRunMs, 1),
    slot_gap_ms: round((T1_CONCURRENCY * runS * 1000) / n - itemRunMs, 1),
    spans: pipelineSpans(
      parseLines([bs.stack.output(), ...bs.extraWorkers.map((w) => w.lines.join('\n'))].join('\n')),
      batchId,
      records,
    ),
    curve,
  };
  return { run, batchId };
}

async function timedGet(bs: BenchStack, path: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${bs.stack.apiUrl}${path}`, {
    headers: { authorization: `Bearer ${bs.stack.token}` },
    signal: AbortSignal.timeout(300_000),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return performance.now() - t0;
}

/**
 * T1 findings arrive as one burst; the sandbox answers every call after 50-150 ms; the tier runs at
 * its default concurrency (10 jobs in flight across all replicas). Enqueue-to-done per item against
 * the 300 s SLA, then the same with 1, 2 and 4 worker processes.
 */
export async function runT1(bs: BenchStack, sizes: Sizes, say: (m: string) => void): Promise<T1Result> {
  const { run: headline, batchId } = await runBurst(bs, sizes.t1Items, 1, 't1big');
  say(
    `T1: ${headline.items} items in ${headline.run_s} s (${headline.items_per_s}/s): p95 ${headline.p95_s} s, SLA ${headline.sla_pct}%`,
  );
  const status_big_batch_ms: number[] = [];
  for (let i = 0; i < 2; i++) status_big_batch_ms.push(round(await timedGet(bs, `/api/v1/remediations/${batchId}`), 0));
  say(`T1: GET /remediations/:id of the ${headline.items}-item batch: ${status_big_batch_ms.join(', ')} ms`);

  const scaling: T1Run[] = [];
  const added: Child[] = [];
  try {
    for (const replicas of sizes.t1Replicas) {
      while (1 + added.length < replicas) added.push(await addWorker(bs, 'T1'));
      while (1 + added.length > replicas) {
        const w = added.pop();
        if (w) await removeWorker(bs, w);
      }
      const { run: r } = await runBurst(bs, sizes.t1ScaleItems, replicas, `t1r${replicas}`);
      say(`T1 x${replicas} replicas: ${r.items} items, ${r.items_per_s}/s, p95 ${r.p95_s} s`);
      scaling.push(r);
    }
  } finally {
    for (const w of added) await removeWorker(bs, w);
  }

  // The floor: a bare BullMQ worker making the same three calls at the same latency and concurrency.
  const bare = await startBaselineWorker(bs, 'bench-baseline-t1', [], T1_CONCURRENCY);
  let baseline: BaselineRun;
  try {
    bs.sandbox.setLatency(LATENCY_MS);
    baseline = await runBaselineBatch(bs, bare, sizes.t1ScaleItems);
  } finally {
    bs.sandbox.setLatency(undefined);
    await bare.worker.stop();
    await bare.queue.close();
  }
  const slot = (T1_CONCURRENCY * 1000) / baseline.items_per_s;
  say(
    `T1 bare worker at the same latency: ${baseline.items} items, ${baseline.items_per_s}/s, job run ${baseline.run_ms_mean} ms (slot ${round(slot, 1)} ms)`,
  );
  return {
    concurrency: T1_CONCURRENCY,
    latency_ms: LATENCY_MS,
    headline,
    scaling,
    status_big_batch_ms,
    baseline: {
      items: baseline.items,
      items_per_s: baseline.items_per_s,
      item_run_ms: baseline.run_ms_mean,
      slot_gap_ms: round(slot - baseline.run_ms_mean, 1),
    },
  };
}
