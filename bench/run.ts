/**
 * `pnpm bench` / `pnpm bench:quick`: the dispatcher's figures, side by side in one run. Two stacks
 * (`pnpm start` as the tests run it, each on its own redis-server and an aws-sandbox in this
 * process): the rate-limit phase runs on its own throttled stack while the others run one after
 * another on the first. Prints the figures and writes results.json, results.md and the plots.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { stopAllChildren } from './lib/child';
import { loadConfig } from './lib/config';
import { describeMachine } from './lib/proc';
import { flatten, markdown, rateChart, t1Chart, type BenchReport } from './lib/report';
import { startBenchSandbox } from './lib/sandbox';
import { startBenchStack, type BenchStack } from './lib/stack';
import { round } from './lib/stats';
import { runApi } from './phases/api';
import { runMemory } from './phases/memory';
import { runOverhead } from './phases/overhead';
import { runRateLimit } from './phases/rate-limit';
import { runT1 } from './phases/t1-sla';

const started = Date.now();
const say = (m: string) => process.stdout.write(`[bench ${Math.round((Date.now() - started) / 1000)}s] ${m}\n`);

async function main(): Promise<number> {
  const cfg = loadConfig(process.argv.slice(2), process.env);
  if (cfg.renderOnly) {
    const detail = join(cfg.outDir, 'results.detail.json');
    writeResults(JSON.parse(readFileSync(detail, 'utf8')) as BenchReport, cfg.outDir);
    return 0;
  }
  const machine = describeMachine();
  say(
    `${cfg.mode} run on ${machine.nproc} CPUs, ${machine.mem_total_gib} GiB, node ${machine.node}, load ${machine.loadavg_start.join(' ')}`,
  );
  const stacks: BenchStack[] = [];
  const closers: (() => Promise<void>)[] = [];
  // One clean-up, however many times it is asked for: a signal and the main flow both wait on it.
  let cleaning: Promise<void> | null = null;
  const cleanup = () =>
    (cleaning ??= (async () => {
      await Promise.allSettled([...stacks.map((s) => s.stop()), stopAllChildren()]);
      await Promise.allSettled(closers.map((c) => c()));
    })());
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => void cleanup().then(() => process.exit(130)));

  const report: BenchReport = {
    mode: cfg.mode,
    sizes: cfg.sizes,
    machine,
    loadavg_end: [],
    wall_s: 0,
    overhead: null,
    rate: null,
    t1: null,
    api: null,
    memory: null,
    errors: [],
  };
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T | null> => {
    try {
      return await fn();
    } catch (err) {
      const msg = `${name}: ${(err as Error).message}`;
      report.errors.push(msg);
      say(`FAILED ${msg}`);
      return null;
    }
  };

  try {
    const want = cfg.phases;
    const own = want.has('rate') && cfg.sizes.rateOwnStack;
    const sbMain = await startBenchSandbox();
    closers.push(() => sbMain.close());
    const sbRate = own ? await startBenchSandbox() : null;
    if (sbRate) closers.push(() => sbRate.close());
    say(`starting ${sbRate ? 'two stacks' : 'a stack'} (gateway, T1-T3 workers, snapshot service, redis-server)`);
    // The main stack's budget is scaled far above any bucket: the overhead, API and SLA phases
    // measure the dispatcher, not AWS's limits (the rate-limit stack keeps every default).
    const [main, rate] = await Promise.all([
      startBenchStack(sbMain, { AEGIS_RATE_BUDGET_SCALE: '10000' }),
      sbRate ? startBenchStack(sbRate, {}) : null,
    ]);
    stacks.push(main, ...(rate ? [rate] : []));
    say('ready');

    // On its own stack the rate-limit phase runs beside the others: it spends its time waiting on
    // the bucket (2,000 findings at 5 per second), not on the CPU.
    const rateRun = rate ? phase('rate limit', () => runRateLimit(rate, cfg.sizes.rateItems, true, say)) : null;
    if (want.has('overhead'))
      report.overhead = await phase('overhead', () => runOverhead(main, cfg.sizes, cfg.profileDir, say));
    if (want.has('api')) report.api = await phase('api', () => runApi(main, cfg.sizes, say));
    if (want.has('memory')) report.memory = await phase('memory', () => runMemory(main, cfg.sizes, say));
    if (want.has('t1')) report.t1 = await phase('t1 sla', () => runT1(main, cfg.sizes, say));
    if (rateRun) report.rate = await rateRun;
    else if (want.has('rate'))
      report.rate = await phase('rate limit', () => runRateLimit(main, cfg.sizes.rateItems, false, say));
  } catch (err) {
    report.errors.push(`set-up: ${(err as Error).message}`);
    say(`FAILED set-up: ${(err as Error).message}`);
  } finally {
    await cleanup();
  }

  report.wall_s = round((Date.now() - started) / 1000, 1);
  report.loadavg_end = loadavg().map((l) => round(l, 2));
  writeResults(report, cfg.outDir);
  return report.errors.length ? 1 : 0;
}

/** results.json, results.md, the plots and results.detail.json (everything, to render again). */
function writeResults(report: BenchReport, outDir: string): void {
  mkdirSync(outDir, { recursive: true });
  const plots: { t1?: string; rate?: string } = {};
  if (report.t1) {
    plots.t1 = 'results-t1-sla.svg';
    writeFileSync(join(outDir, plots.t1), t1Chart(report.t1));
  }
  if (report.rate) {
    plots.rate = 'results-rate-limit.svg';
    writeFileSync(join(outDir, plots.rate), rateChart(report.rate));
  }
  const flat = flatten(report);
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(flat, null, 2)}\n`);
  writeFileSync(join(outDir, 'results.md'), markdown(report, plots));
  writeFileSync(join(outDir, 'results.detail.json'), `${JSON.stringify(report, null, 1)}\n`);
  const width = Math.max(...Object.keys(flat).map((k) => k.length));
  process.stdout.write(
    `\n${Object.entries(flat)
      .map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)
      .join('\n')}\n\n`,
  );
  say(`wrote results.json, results.md, results.detail.json and the plots in ${outDir} (run: ${report.wall_s} s)`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
