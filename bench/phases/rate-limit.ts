import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RATES, resolveRates } from '../../packages/dispatch/src/rate-budget';
import { REPO_ROOT } from '../../packages/testkit/src';
import { defaultRate } from '../../services/aws-sandbox/src/throttle';
import { opStats, seedOpenSshGroups, stillOpen } from '../lib/sandbox';
import { pipelineSpans, parseLines, type SpanSummary } from '../lib/spans';
import { execute, itemRecords, planBatch, waitBatch, type BenchStack } from '../lib/stack';
import { round, slope } from '../lib/stats';

const MUTATING = ['ec2:RevokeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupIngress'];

export interface RateBudgetPresence {
  /** The workers wait on a shared Redis token bucket before each cloud call. */
  in_tree: boolean;
  /** …and that code is committed (not only in someone's working tree). */
  committed: boolean;
  /** The share of EC2's mutating bucket the budget plans to use at its defaults (its headroom). */
  planned_share: number;
}

/** Whether packages/dispatch has the shared rate budget wired into the runtime, as the bench finds the tree. */
export function rateBudgetPresence(): RateBudgetPresence {
  const file = join(REPO_ROOT, 'packages/dispatch/src/rate-budget.ts');
  const runtime = readFileSync(join(REPO_ROOT, 'packages/dispatch/src/runtime.ts'), 'utf8');
  const inTree = existsSync(file) && /new RateBudget\(/.test(runtime);
  const committed = (() => {
    try {
      execFileSync('git', ['ls-files', '--error-unmatch', 'packages/dispatch/src/rate-budget.ts'], {
        cwd: REPO_ROOT,
        stdio: 'ignore',
      });
      const dirty = execFileSync('git', ['status', '--porcelain', '--', 'packages/dispatch/src/runtime.ts'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      return dirty.trim() === '';
    } catch {
      return false;
    }
  })();
  const planned = resolveRates(1)['ec2:mutate'].perSecond / DEFAULT_RATES['ec2:mutate'].perSecond;
  return { in_tree: inTree, committed: inTree && committed, planned_share: inTree ? round(planned, 3) : 1 };
}

/** Mean budget wait per call by category, from the T1 worker's Prometheus histogram (empty without a budget). */
async function budgetWaits(bs: BenchStack): Promise<Record<string, number>> {
  const port = bs.stack.state().ports['worker-t1'];
  if (!port) return {};
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) })
    .then((r) => r.text())
    .catch(() => '');
  const sums = new Map<string, { sum: number; count: number }>();
  for (const m of text.matchAll(
    /^aegis_rate_budget_wait_seconds_(sum|count)\{[^}]*category="([^"]+)"[^}]*\} ([\d.e+-]+)$/gm,
  )) {
    const e = sums.get(m[2] ?? '') ?? { sum: 0, count: 0 };
    if (m[1] === 'sum') e.sum += Number(m[3]);
    else e.count += Number(m[3]);
    sums.set(m[2] ?? '', e);
  }
  return Object.fromEntries([...sums].map(([k, v]) => [k, v.count ? round((v.sum / v.count) * 1000, 1) : 0]));
}

export interface RateLimitResult {
  items: number;
  bucket_capacity: number;
  bucket_refill_per_s: number;
  dry_run_s: number;
  run_s: number;
  mutating_calls_ok: number;
  /** ok mutating calls / (capacity + refill × run time): 1 is every token the bucket gave. */
  utilisation: number;
  /** Slope of ok mutating calls once the initial burst is spent, over the refill rate. */
  steady_utilisation: number;
  achieved_calls_per_s: number;
  throttled_calls: number;
  throttled_mutating_calls: number;
  failed_items: number;
  throttle_deferrals: number;
  left_open: number;
  rate_budget: RateBudgetPresence;
  /** The stack ran the budget at its defaults (false: the main stack's budget, scaled out of the way). */
  budget_at_defaults: boolean;
  /** Mean wait for a budget token per call, by category, from the T1 worker's metrics (ms). */
  budget_wait_ms: Record<string, number>;
  spans: SpanSummary;
  /** Seconds since execute → ok mutating calls so far (the plot). */
  series: { t: number; ok: number }[];
}

/**
 * The sandbox throttles EC2 as AWS does (Revoke/Authorize: 50 burst, 5 per second); the stack runs
 * with its defaults. How close does the dispatcher get to the bucket's rate, and does anything fail?
 */
export async function runRateLimit(
  bs: BenchStack,
  n: number,
  budgetAtDefaults: boolean,
  say: (m: string) => void,
): Promise<RateLimitResult> {
  const sb = bs.sandbox;
  const bucket = defaultRate('ec2', 'RevokeSecurityGroupIngress');
  const describe = defaultRate('ec2', 'DescribeSecurityGroups');
  const groups = seedOpenSshGroups(sb, n);
  // The dry run is not what is measured: its reads are let through (the budget, when present,
  // still paces them); execution then meets every default bucket, all full.
  sb.setThrottling({
    enabled: true,
    rates: { 'ec2:DescribeSecurityGroups': { capacity: 1e6, refill_per_second: 1e6 } },
  });
  const t0d = Date.now();
  const { ids, batchId } = await planBatch(bs, 'rate', groups);
  const dryRunS = (Date.now() - t0d) / 1000;
  say(`rate limit: dry run of ${n} findings took ${round(dryRunS, 1)} s; executing against the throttled sandbox`);
  sb.setThrottling({ enabled: true, rates: { 'ec2:DescribeSecurityGroups': describe } });
  const base = opStats(sb.stats(), MUTATING).ok;
  const series: { t: number; ok: number }[] = [];
  const t0 = await execute(bs, batchId, ids);
  const c = await waitBatch(bs, batchId, n, {
    everyMs: 500,
    timeoutMs: 120_000 + ((n / bucket.refill_per_second) * 3 + 60) * 1000,
    onSample: () => series.push({ t: (Date.now() - t0) / 1000, ok: opStats(sb.stats(), MUTATING).ok - base }),
  });
  const records = await itemRecords(bs, batchId);
  const spans = pipelineSpans(parseLines(bs.stack.output()), batchId, records);
  const budgetWait = await budgetWaits(bs);
  const tEnd = Math.max(...records.map((r) => (r.finished_at ? Date.parse(r.finished_at) : 0)));
  const runS = (tEnd - t0) / 1000;
  const stats = sb.stats();
  const ok = opStats(stats, MUTATING).ok - base;
  const ec2Ops = Object.keys(stats).filter((k) => k.startsWith('ec2:'));
  const steady = series.filter((p) => p.ok > bucket.capacity + 5 && p.ok < ok - 5).map((p) => ({ x: p.t, y: p.ok }));
  sb.setThrottling({ enabled: false });
  return {
    items: n,
    bucket_capacity: bucket.capacity,
    bucket_refill_per_s: bucket.refill_per_second,
    dry_run_s: round(dryRunS, 1),
    run_s: round(runS, 1),
    mutating_calls_ok: ok,
    utilisation: round(ok / (bucket.capacity + bucket.refill_per_second * runS), 3),
    steady_utilisation: round(steady.length >= 4 ? slope(steady) / bucket.refill_per_second : 0, 3),
    achieved_calls_per_s: round(ok / runS, 2),
    throttled_calls: opStats(stats, ec2Ops).throttled,
    throttled_mutating_calls: opStats(stats, MUTATING).throttled,
    failed_items: c.failed + c.timed_out + c.cancelled,
    throttle_deferrals: records.reduce((s, r) => s + (r.throttle_deferrals ?? 0), 0),
    left_open: stillOpen(sb, groups),
    rate_budget: rateBudgetPresence(),
    budget_at_defaults: budgetAtDefaults,
    budget_wait_ms: budgetWait,
    spans,
    series,
  };
}
