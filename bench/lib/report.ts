import type { ApiResult } from '../phases/api';
import type { MemoryResult } from '../phases/memory';
import type { OverheadResult } from '../phases/overhead';
import type { RateLimitResult } from '../phases/rate-limit';
import { SLA_S, type T1Result } from '../phases/t1-sla';
import type { Mode, Sizes } from './config';
import type { MachineInfo } from './proc';
import { lineChart } from './svg';

export interface BenchReport {
  mode: Mode;
  sizes: Sizes;
  machine: MachineInfo;
  loadavg_end: number[];
  wall_s: number;
  overhead: OverheadResult | null;
  rate: RateLimitResult | null;
  t1: T1Result | null;
  api: ApiResult | null;
  memory: MemoryResult | null;
  errors: string[];
}

export const TARGETS = { overhead_ratio: 0.6, rate_limit_utilisation: 0.9, throttled_failures: 0 };

type Flat = Record<string, number | boolean | null>;

const sum = (x: Record<string, number>) => Math.round(Object.values(x).reduce((a, v) => a + v, 0) * 100) / 100;

/** results.json: one flat object of numbers and booleans (null: the phase did not finish). */
export function flatten(r: BenchReport): Flat {
  const o = r.overhead;
  const last = o?.pipeline[o.pipeline.length - 1];
  const base = o?.baseline[o.baseline.length - 1];
  const t = r.t1;
  const a = r.api;
  const mem = r.memory;
  const small = mem?.points[0];
  const large = mem?.points[mem.points.length - 1];
  const out: Flat = {
    quick: r.mode !== 'full',
    tiny: r.mode === 'tiny',
    nproc: r.machine.nproc,
    mem_total_gib: r.machine.mem_total_gib,
    wall_s: r.wall_s,
    overhead_ratio: o?.overhead_ratio ?? null,
    overhead_ratio_cpu: o?.overhead_ratio_cpu ?? null,
    pipeline_items_per_s: o?.pipeline_items_per_s ?? null,
    baseline_items_per_s: o?.baseline_items_per_s ?? null,
    pipeline_cpu_ms_per_item: last?.cpu_ms_per_item ?? null,
    baseline_cpu_ms_per_item: base?.cpu_ms_per_item ?? null,
    pipeline_redis_cpu_ms_per_item: last?.redis_cpu_ms_per_item ?? null,
    pipeline_redis_commands_per_item: last ? sum(last.redis_commands_per_item) : null,
    baseline_redis_commands_per_item: base ? sum(base.redis_commands_per_item) : null,
    baseline_redis_cpu_ms_per_item: base?.redis_cpu_ms_per_item ?? null,
    pipeline_failed: o ? o.pipeline.reduce((s, p) => s + p.failed, 0) : null,
    overhead_machine_busy_pct: o?.machine_busy_pct ?? null,
    redis_bytes_per_finished_item: last?.redis_bytes_per_finished_item ?? null,
    rate_limit_utilisation: r.rate?.utilisation ?? null,
    rate_limit_steady_utilisation: r.rate?.steady_utilisation ?? null,
    rate_limit_calls_per_s: r.rate?.achieved_calls_per_s ?? null,
    rate_limit_items: r.rate?.items ?? null,
    rate_limit_run_s: r.rate?.run_s ?? null,
    rate_limit_dry_run_s: r.rate?.dry_run_s ?? null,
    throttled_failures: r.rate?.failed_items ?? null,
    throttled_calls: r.rate?.throttled_calls ?? null,
    throttle_deferrals: r.rate?.throttle_deferrals ?? null,
    rate_budget_in_tree: r.rate?.rate_budget.in_tree ?? null,
    rate_budget_committed: r.rate?.rate_budget.committed ?? null,
    rate_budget_at_defaults: r.rate?.budget_at_defaults ?? null,
    rate_budget_planned_share: r.rate?.rate_budget.planned_share ?? null,
    t1_items: t?.headline.items ?? null,
    t1_p50_s: t?.headline.p50_s ?? null,
    t1_p95_s: t?.headline.p95_s ?? null,
    t1_p99_s: t?.headline.p99_s ?? null,
    t1_sla_pct: t?.headline.sla_pct ?? null,
    t1_items_per_s: t?.headline.items_per_s ?? null,
    t1_failed: t?.headline.failed ?? null,
    t1_status_get_ms: t ? Math.max(...t.status_big_batch_ms) : null,
    t1_item_run_ms: t?.headline.item_run_ms ?? null,
    t1_slot_gap_ms: t?.headline.slot_gap_ms ?? null,
    t1_baseline_items_per_s: t?.baseline?.items_per_s ?? null,
    t1_baseline_item_run_ms: t?.baseline?.item_run_ms ?? null,
    api_dry_run_items: a?.dry_run_items ?? null,
    api_dry_run_p50_ms: a?.dry_run_p50_ms ?? null,
    api_status_p50_ms: a?.status.gateway.p50_ms ?? null,
    api_status_p99_ms: a?.status.gateway.p99_ms ?? null,
    api_status_req_per_s: a?.status.gateway.req_per_s ?? null,
    api_baseline_p50_ms: a?.status.bare.p50_ms ?? null,
    api_baseline_p99_ms: a?.status.bare.p99_ms ?? null,
    api_baseline_req_per_s: a?.status.bare.req_per_s ?? null,
    api_findings_p50_ms: a?.findings_post.gateway.p50_ms ?? null,
    api_findings_p99_ms: a?.findings_post.gateway.p99_ms ?? null,
    api_findings_req_per_s: a?.findings_post.gateway.req_per_s ?? null,
    api_findings_baseline_p99_ms: a?.findings_post.bare.p99_ms ?? null,
    api_findings_baseline_req_per_s: a?.findings_post.bare.req_per_s ?? null,
    redis_bytes_per_queued_item: large?.redis_bytes_per_queued_item ?? null,
    redis_bytes_per_planned_item: large?.redis_bytes_per_planned_item ?? null,
    mem_small_items: small?.queued ?? null,
    mem_large_items: large?.queued ?? null,
    enqueue_large_s: large?.enqueue_s ?? null,
    api_status_small_batch_ms: small?.status_get_ms ?? null,
    gateway_rss_mib_small: small?.gateway_rss_mib ?? null,
    gateway_rss_mib_large: large?.gateway_rss_mib ?? null,
    worker_rss_mib_small: small?.worker_t1_rss_mib ?? null,
    worker_rss_mib_large: large?.worker_t1_rss_mib ?? null,
  };
  for (const s of t?.scaling ?? []) {
    out[`t1_scaling_r${s.replicas}_items_per_s`] = s.items_per_s;
    out[`t1_scaling_r${s.replicas}_p95_s`] = s.p95_s;
  }
  out.overhead_target_met = o ? o.overhead_ratio >= TARGETS.overhead_ratio : null;
  out.rate_limit_target_met = r.rate ? r.rate.utilisation >= TARGETS.rate_limit_utilisation : null;
  out.throttled_failures_target_met = r.rate ? r.rate.failed_items === TARGETS.throttled_failures : null;
  return out;
}

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];

export function t1Chart(t: T1Result): string {
  const runs = [t.headline, ...t.scaling];
  return lineChart({
    title: `T1 burst: items finished since enqueue (${t.latency_ms[0]}-${t.latency_ms[1]} ms per API call, concurrency ${t.concurrency})`,
    xLabel: 'seconds since the batch was enqueued',
    yLabel: 'share of the batch finished (%)',
    series: runs.map((r, i) => ({
      name: `${r.items} items, ${r.replicas} replica${r.replicas > 1 ? 's' : ''}`,
      color: COLORS[i % COLORS.length] ?? '#000',
      dashed: i > 0,
      points: [{ x: 0, y: 0 }, ...r.curve.map((p) => ({ x: p.t, y: (p.done / r.items) * 100 }))],
    })),
    marks: [{ x: SLA_S, label: `SLA ${SLA_S} s` }],
  });
}

export function rateChart(r: RateLimitResult): string {
  const end = r.series[r.series.length - 1]?.t ?? r.run_s;
  const share = r.budget_at_defaults && r.rate_budget.in_tree ? r.rate_budget.planned_share : 1;
  return lineChart({
    title: `Revoke/Authorize calls against the EC2 bucket (${r.bucket_capacity} burst, ${r.bucket_refill_per_s}/s)`,
    xLabel: 'seconds since execute',
    yLabel: 'successful mutating calls',
    series: [
      {
        name: 'most the bucket allows',
        color: '#999',
        dashed: true,
        points: [
          { x: 0, y: r.bucket_capacity },
          { x: end, y: r.bucket_capacity + r.bucket_refill_per_s * end },
        ],
      },
      ...(share < 1
        ? [
            {
              name: `the budget's plan (${Math.round(share * 100)}%)`,
              color: COLORS[2] ?? '#000',
              dashed: true,
              points: [
                { x: 0, y: Math.floor(r.bucket_capacity * share) },
                { x: end, y: Math.floor(r.bucket_capacity * share) + r.bucket_refill_per_s * share * end },
              ],
            },
          ]
        : []),
      {
        name: 'dispatcher',
        color: COLORS[0] ?? '#000',
        points: [{ x: 0, y: 0 }, ...r.series.map((p) => ({ x: p.t, y: p.ok }))],
      },
    ],
  });
}

const round2 = (v: number) => Math.round(v * 100) / 100;
const yes = (b: boolean) => (b ? 'met' : '**missed**');
const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;

export function markdown(r: BenchReport, plots: { t1?: string; rate?: string }): string {
  const m = r.machine;
  const f = flatten(r);
  const L: string[] = [];
  L.push(`# Cloud Aegis benchmarks — ${r.mode} run`, '');
  L.push(
    `Run ${m.date} in ${r.wall_s} s. What each figure means and how to run: docs/benchmarks.md. Benchmarks print figures; nothing here passes or fails.`,
    '',
  );
  L.push('## Machine', '');
  L.push('| | |', '|---|---|');
  L.push(row(['nproc', m.nproc]), row(['CPU', m.cpu_model]), row(['memory', `${m.mem_total_gib} GiB`]));
  L.push(row(['node', m.node]), row(['kernel', m.kernel]), row(['redis-server', m.redis]));
  L.push(row(['load average at start / end', `${m.loadavg_start.join(' ')} / ${r.loadavg_end.join(' ')}`]));
  if (r.overhead) L.push(row(['machine CPU busy during the overhead phase', `${r.overhead.machine_busy_pct}%`]));
  L.push('');
  L.push('## Summary', '', '| figure | value | target |', '|---|---|---|');
  const o = r.overhead;
  if (o)
    L.push(
      row([
        'overhead ratio (pipeline / bare BullMQ worker, items/s)',
        `${o.overhead_ratio} (${o.pipeline_items_per_s} / ${o.baseline_items_per_s})`,
        `≥ ${TARGETS.overhead_ratio}: ${yes(o.overhead_ratio >= TARGETS.overhead_ratio)}`,
      ]),
      row(['same ratio from CPU per item (worker + Redis + sandbox)', o.overhead_ratio_cpu, '']),
      row([
        'dispatcher CPU per item (gateway + workers + snapshot)',
        `${f.pipeline_cpu_ms_per_item} ms (bare worker ${f.baseline_cpu_ms_per_item} ms)`,
        '',
      ]),
    );
  const rt = r.rate;
  if (rt)
    L.push(
      row([
        `rate-limit utilisation (${rt.items} findings)`,
        `${rt.utilisation} (steady ${rt.steady_utilisation}, ${rt.achieved_calls_per_s} calls/s)`,
        `≥ ${TARGETS.rate_limit_utilisation}: ${yes(rt.utilisation >= TARGETS.rate_limit_utilisation)}`,
      ]),
      row(['failed items under throttling', rt.failed_items, `0: ${yes(rt.failed_items === 0)}`]),
      row(['throttled calls (all EC2 operations)', rt.throttled_calls, '']),
    );
  const t = r.t1;
  if (t)
    L.push(
      row([
        `T1 enqueue-to-done, ${t.headline.items} findings (p50 / p95 / p99)`,
        `${t.headline.p50_s} / ${t.headline.p95_s} / ${t.headline.p99_s} s`,
        '',
      ]),
      row([`T1 done within ${SLA_S} s`, `${t.headline.sla_pct}%`, '']),
    );
  const a = r.api;
  if (a)
    L.push(
      row([
        `GET /remediations/:id p99 (${a.status_batch_items}-item batch)`,
        `${a.status.gateway.p99_ms} ms (bare express ${a.status.bare.p99_ms} ms)`,
        '',
      ]),
      row([`dry run of ${a.dry_run_items} findings`, `${a.dry_run_p50_ms} ms`, '']),
    );
  const mem = r.memory;
  const large = mem?.points[mem.points.length - 1];
  if (large)
    L.push(
      row(['Redis bytes per queued item', large.redis_bytes_per_queued_item, '']),
      row([`enqueue of ${large.queued} items`, `${large.enqueue_s} s`, '']),
    );
  L.push('');
  if (r.errors.length) L.push('## Phases that did not finish', '', ...r.errors.map((e) => `- ${e}`), '');

  if (o) {
    L.push('## 1. Overhead', '');
    L.push(
      `Zero-latency sandbox, no throttling, T1 concurrency ${o.concurrency} for both. Pipeline: execute through the gateway → T1 worker (inspect, plan binding, snapshot stored by the snapshot service, apply, verify, outcome recorded); baseline: a bare BullMQ worker making the same three SDK calls.`,
      '',
    );
    L.push(
      '| run | items | items/s | CPU ms/item | Redis CPU ms/item | sandbox+bench CPU ms/item | failed |',
      '|---|---|---|---|---|---|---|',
    );
    o.baseline.forEach((b, i) =>
      L.push(
        row([
          `baseline ${i + 1}`,
          b.items,
          b.items_per_s,
          b.cpu_ms_per_item,
          b.redis_cpu_ms_per_item,
          b.sandbox_cpu_ms_per_item,
          b.left_open,
        ]),
      ),
    );
    o.pipeline.forEach((p, i) =>
      L.push(
        row([
          `pipeline ${i + 1}`,
          p.items,
          p.items_per_s,
          p.cpu_ms_per_item,
          p.redis_cpu_ms_per_item,
          p.sandbox_cpu_ms_per_item,
          p.failed,
        ]),
      ),
    );
    const p = o.pipeline[o.pipeline.length - 1];
    if (p) {
      L.push('', '### Where the time goes', '');
      L.push('Dispatcher CPU per item by process (ms):', '');
      L.push('| process | ms/item |', '|---|---|');
      for (const [k, v] of Object.entries(p.cpu_ms_per_item_by_process)) L.push(row([k, v]));
      L.push('', 'Wall time of one item inside the T1 worker (means, from the JSON log lines):', '');
      L.push('| span | ms |', '|---|---|');
      L.push(row(['queue wait (p50)', p.spans.queue_wait_ms_p50]));
      L.push(
        row([
          'start → snapshot stored (inspect, plan, snapshot id, snapshot service write)',
          p.spans.start_to_snapshot_ms,
        ]),
      );
      L.push(row(['snapshot → apply done (stop gates, revoke)', p.spans.snapshot_to_apply_ms]));
      L.push(row(['apply → finished (verify, transition, outcome, finding, re-check)', p.spans.apply_to_finish_ms]));
      L.push(row(['run, start to finish (p50 / mean)', `${p.spans.run_ms_p50} / ${p.spans.run_ms_mean}`]));
      const b = o.baseline[o.baseline.length - 1];
      if (b) L.push(row(['baseline run (p50)', b.run_ms_p50]));
      const cmds = (x: Record<string, number>) =>
        `${round2(Object.values(x).reduce((a, v) => a + v, 0))}: ${Object.entries(x)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ')}`;
      L.push(
        '',
        "Redis commands per item (INFO commandstats: commands run inside Lua scripts count too; eval is ours, evalsha BullMQ's):",
        '',
      );
      L.push(`- pipeline ${cmds(p.redis_commands_per_item)}`);
      if (b) L.push(`- bare worker ${cmds(b.redis_commands_per_item)}`);
      L.push('');
    }
    if (o.profile) {
      const { pipeline: pp, baseline: bp } = o.profile;
      const per = (ms: number | undefined, items: number) => (ms === undefined ? '' : round2(ms / Math.max(1, items)));
      L.push(
        `CPU profiles (\`--cpu-prof\`): a bare worker over ${bp.items} items, and a second pipeline T1 worker beside the first (it ran ${pp.items} of ${o.pipeline[0] ? 'the profiled batch' : 'the items'}). Busy CPU per item by part; node-internal and native frames count for the package that called them:`,
        '',
      );
      L.push('| part | bare worker ms/item | pipeline T1 worker ms/item |', '|---|---|---|');
      const parts = [...new Set([...Object.keys(pp.summary.categories_ms), ...Object.keys(bp.summary.categories_ms)])];
      for (const k of parts)
        L.push(row([k, per(bp.summary.categories_ms[k], bp.items), per(pp.summary.categories_ms[k], pp.items)]));
      L.push(row(['**total**', per(bp.summary.busy_ms, bp.items), per(pp.summary.busy_ms, pp.items)]));
      L.push(
        '',
        'Heaviest frames of the pipeline T1 worker (self time):',
        '',
        '| frame | called from | ms/item |',
        '|---|---|---|',
      );
      for (const x of pp.summary.top) L.push(row([`\`${x.fn}\``, x.via ? `\`${x.via}\`` : '', per(x.ms, pp.items)]));
      L.push('');
    }
  }
  if (rt) {
    L.push('## 2. Rate-limit utilisation', '');
    L.push(
      `Sandbox throttling on with EC2's buckets; Revoke/Authorize: ${rt.bucket_capacity} burst, ${rt.bucket_refill_per_s} per s. Shared rate budget in the tree: ${rt.rate_budget.in_tree ? `yes${rt.rate_budget.committed ? ' (committed)' : ' (uncommitted working-tree code)'}, planning ${Math.round(rt.rate_budget.planned_share * 100)}% of each bucket` : 'no'}${rt.budget_at_defaults ? '' : ' (this run: the main stack, budget scaled out of the way)'}. Utilisation = successful mutating calls / (burst + refill × run time).`,
      '',
    );
    L.push('| | |', '|---|---|');
    L.push(row(['findings', rt.items]), row(['dry run', `${rt.dry_run_s} s`]), row(['execution', `${rt.run_s} s`]));
    L.push(
      row(['successful Revoke/Authorize', rt.mutating_calls_ok]),
      row(['utilisation / steady', `${rt.utilisation} / ${rt.steady_utilisation}`]),
    );
    L.push(row(['throttled calls (mutating)', `${rt.throttled_calls} (${rt.throttled_mutating_calls})`]));
    L.push(
      row(['items sent back to the queue as throttled', rt.throttle_deferrals]),
      row(['failed items', rt.failed_items]),
      row(['groups left open', rt.left_open]),
    );
    for (const [k, v] of Object.entries(rt.budget_wait_ms))
      L.push(row([`mean wait for a ${k} budget token`, `${v} ms`]));
    L.push(
      row(['item run, start to finish (p50 / mean)', `${rt.spans.run_ms_p50} / ${rt.spans.run_ms_mean} ms`]),
      row([
        'start → snapshot stored / → apply done / → finished (means)',
        `${rt.spans.start_to_snapshot_ms} / ${rt.spans.snapshot_to_apply_ms} / ${rt.spans.apply_to_finish_ms} ms`,
      ]),
    );
    if (plots.rate) L.push('', `![rate limit](${plots.rate})`);
    L.push('');
  }
  if (t) {
    L.push('## 3. T1 SLA at scale', '');
    L.push(
      `One burst of findings, every sandbox call delayed ${t.latency_ms[0]}-${t.latency_ms[1]} ms (execution only), T1 concurrency ${t.concurrency} across all replicas; extra replicas are extra T1 worker processes.`,
      '',
    );
    L.push(
      '| replicas | items | items/s | p50 s | p95 s | p99 s | within 300 s | failed | item run ms | slot gap ms | CPU ms/item | machine busy |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const x of [t.headline, ...t.scaling])
      L.push(
        row([
          x.replicas,
          x.items,
          x.items_per_s,
          x.p50_s,
          x.p95_s,
          x.p99_s,
          `${x.sla_pct}%`,
          x.failed,
          x.item_run_ms ?? '',
          x.slot_gap_ms ?? '',
          x.cpu_ms_per_item,
          `${x.machine_busy_pct}%`,
        ]),
      );
    L.push(
      '',
      `Item run: first start to outcome in the worker (the three calls average ${(3 * (t.latency_ms[0] + t.latency_ms[1])) / 2} ms); slot gap: what each item's slot cost beyond its run (${t.concurrency} × run time ÷ items − item run). At ${t.concurrency} slots, ${t.concurrency} ÷ (run + gap) is the ceiling on items/s.`,
    );
    if (t.baseline)
      L.push(
        '',
        `The floor, same latency and concurrency: a bare BullMQ worker making the same three calls (no snapshot, records or logs), ${t.baseline.items} items: ${t.baseline.items_per_s} items/s, job run ${t.baseline.item_run_ms} ms, slot gap ${t.baseline.slot_gap_ms} ms.`,
      );
    const sp = t.headline.spans;
    if (sp)
      L.push(
        '',
        `Inside the worker (headline batch, means from the log lines): start → snapshot stored ${sp.start_to_snapshot_ms} ms (one call), → apply done ${sp.snapshot_to_apply_ms} ms (one call), → finished ${sp.apply_to_finish_ms} ms (one call); run p50 ${sp.run_ms_p50} ms.`,
      );
    L.push('', `GET /remediations/:id of the ${t.headline.items}-item batch: ${t.status_big_batch_ms.join(', ')} ms.`);
    if (plots.t1) L.push('', `![T1 SLA](${plots.t1})`);
    L.push('');
  }
  if (a) {
    L.push('## 4. API', '');
    L.push(
      `autocannon, ${a.connections} connections, ${a.seconds} s per run, after a short warm-up; the bare server is express 5 with no auth, validation, Redis or logs.`,
      '',
    );
    L.push('| endpoint | p50 ms | p99 ms | req/s | errors |', '|---|---|---|---|---|');
    const c = (name: string, x: { p50_ms: number; p99_ms: number; req_per_s: number; bad: number }) =>
      L.push(row([name, x.p50_ms, x.p99_ms, x.req_per_s, x.bad]));
    c(`GET /remediations/:id (${a.status_batch_items} items)`, a.status.gateway);
    c('bare express, same JSON', a.status.bare);
    c(`POST /findings (${a.findings_per_request} findings)`, a.findings_post.gateway);
    c('bare express, same body', a.findings_post.bare);
    L.push('', `Dry run of ${a.dry_run_items} findings (zero-latency sandbox): ${a.dry_run_ms.join(', ')} ms.`, '');
  }
  if (mem) {
    L.push('## 5. Memory', '');
    L.push(
      "T1 queue paused; items planned from a real dry-run item and enqueued by the gateway's own execute path (chunked addBulk).",
      '',
    );
    L.push(
      '| queued | Redis B/planned item | Redis B/queued item | enqueue s | items/s | gateway RSS MiB | T1 worker RSS MiB | GET status ms |',
      '|---|---|---|---|---|---|---|---|',
    );
    L.push(row(['0', '', '', '', '', mem.idle.gateway_rss_mib, mem.idle.worker_t1_rss_mib, '']));
    for (const p of mem.points)
      L.push(
        row([
          p.queued,
          p.redis_bytes_per_planned_item,
          p.redis_bytes_per_queued_item,
          p.enqueue_s,
          p.enqueue_items_per_s,
          p.gateway_rss_mib,
          p.worker_t1_rss_mib,
          p.status_get_ms ?? 'several batches',
        ]),
      );
    if (o?.pipeline[0])
      L.push(
        '',
        `A finished item leaves ${f.redis_bytes_per_finished_item} bytes in Redis (records, outcome, kept job, re-check job).`,
      );
    L.push('');
  }
  return `${L.join('\n')}\n`;
}
