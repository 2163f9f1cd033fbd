import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * The benchmarks are not tests: this only proves `pnpm bench:quick` still runs end to end and
 * writes every figure, at the smallest size (BENCH_SIZE=tiny) and into a temporary folder.
 */
const ROOT = resolve(__dirname, '../..');

const REQUIRED = [
  'overhead_ratio',
  'pipeline_items_per_s',
  'baseline_items_per_s',
  'rate_limit_utilisation',
  'throttled_failures',
  't1_p95_s',
  't1_sla_pct',
  'api_status_p99_ms',
  'api_baseline_p99_ms',
  'redis_bytes_per_queued_item',
  'quick',
];

describe('bench smoke run', () => {
  const out = mkdtempSync(join(tmpdir(), 'aegis-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs every phase and writes results.json with a number or boolean for every figure', async () => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_SIZE: 'tiny', BENCH_OUT_DIR: out },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    child.stdout.on('data', (d: Buffer) => (log += d.toString()));
    child.stderr.on('data', (d: Buffer) => (log += d.toString()));
    // Bounded, not timed: a smoke run that hangs is stopped; how fast it ran is the bench's business.
    const kill = setTimeout(() => child.kill('SIGTERM'), 170_000);
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    clearTimeout(kill);
    if (code !== 0) throw new Error(`bench exited ${code} after ${Date.now() - started} ms:\n${log.slice(-4000)}`);

    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Record<string, unknown>;
    for (const k of REQUIRED) expect(Object.keys(results)).toContain(k);
    const notFigures = Object.entries(results).filter(([, v]) => typeof v !== 'number' && typeof v !== 'boolean');
    expect(notFigures).toEqual([]);
    expect(results.quick).toBe(true);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toContain('## Machine');
  }, 180_000);
});
