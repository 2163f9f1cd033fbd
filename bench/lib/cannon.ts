import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { z } from 'zod';
import { REPO_ROOT } from '../../packages/testkit/src';
import { round } from './stats';

const Result = z.object({
  errors: z.number(),
  timeouts: z.number(),
  non2xx: z.number(),
  duration: z.number(),
  latency: z.object({ p50: z.number(), p99: z.number(), average: z.number() }),
  requests: z.object({ average: z.number(), total: z.number() }),
});

export interface CannonFigures {
  p50_ms: number;
  p99_ms: number;
  req_per_s: number;
  requests: number;
  /** Socket errors, timeouts and non-2xx answers: a run with any is not a clean figure. */
  bad: number;
}

export interface CannonRun {
  url: string;
  seconds: number;
  connections: number;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  /** A file holding the request body. */
  bodyFile?: string;
  /** A short discarded run first (connections, JIT). */
  warmup: boolean;
}

/**
 * autocannon in its own process (its CLI, --json), so the load generator never shares an event
 * loop with the bench or a server under test.
 */
export async function cannon(r: CannonRun): Promise<CannonFigures> {
  const bin = join(REPO_ROOT, 'node_modules', '.bin', 'autocannon');
  const args = ['-j', '-c', String(r.connections)];
  if (r.method) args.push('-m', r.method);
  for (const [k, v] of Object.entries(r.headers ?? {})) args.push('-H', `${k}=${v}`);
  if (r.bodyFile) args.push('-i', r.bodyFile);
  const run = (extra: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        bin,
        [...args, ...extra, r.url],
        { timeout: (r.seconds + 60) * 1000, maxBuffer: 16 * 2 ** 20 },
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
  if (r.warmup) await run(['-a', String(r.connections * 20)]);
  const out = Result.parse(JSON.parse(await run(['-d', String(r.seconds)])));
  return {
    p50_ms: round(out.latency.p50, 1),
    p99_ms: round(out.latency.p99, 1),
    req_per_s: round(out.requests.total / out.duration, 1),
    requests: out.requests.total,
    bad: out.errors + out.timeouts + out.non2xx,
  };
}
