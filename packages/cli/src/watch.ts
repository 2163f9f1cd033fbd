import { SingleBar } from 'cli-progress';
import type { ApiClient } from './api-client';
import { BatchStatus, isBatchDone } from './api-types';
import { ApiError, UnreachableError } from './errors';
import { formatDuration } from './format';
import { statusLine } from './views';

export interface WatchOptions {
  intervalMs: number;
  /** Draw a live bar (stderr is a terminal); otherwise print a line whenever the counts move. */
  bar: boolean;
  /** Print nothing while watching (--json without a terminal). */
  quiet: boolean;
  /** How long the gateway may be unreachable in a row before watching gives up. */
  outageMs?: number;
  /** Stops polling when the batch matches, instead of when it is done (rollback watches). */
  until?: (s: BatchStatus) => boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A restart of the gateway while watching is not the batch failing: keep polling for a while. */
function isTransient(err: unknown): boolean {
  return err instanceof UnreachableError || (err instanceof ApiError && err.status >= 500);
}

export async function fetchStatus(api: ApiClient, batchId: string): Promise<{ status: BatchStatus; raw: unknown }> {
  const res = await api.call('GET', `/remediations/${encodeURIComponent(batchId)}`, BatchStatus);
  return { status: res.data, raw: res.raw };
}

/** Polls a batch until it is done, showing completed / failed / pending; returns the last answer. */
export async function watchBatch(
  api: ApiClient,
  batchId: string,
  opts: WatchOptions,
): Promise<{ status: BatchStatus; raw: unknown }> {
  const done = opts.until ?? isBatchDone;
  const bar =
    opts.bar && !opts.quiet
      ? new SingleBar({
          format:
            '{bar} {value}/{total} | completed {completed} · failed {failed} · pending {pending} | {state} {elapsed}',
          barsize: 30,
          hideCursor: true,
          stream: process.stderr,
        })
      : undefined;
  let started = false;
  let lastLine = '';
  let outageSince: number | undefined;
  const onInterrupt = () => {
    bar?.stop();
    process.stderr.write(
      `\nstopped watching; ${batchId} carries on. Follow it with: aegis status ${batchId} --watch\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    for (;;) {
      let current: { status: BatchStatus; raw: unknown };
      try {
        current = await fetchStatus(api, batchId);
        outageSince = undefined;
      } catch (err) {
        if (!isTransient(err)) throw err;
        outageSince ??= Date.now();
        if (Date.now() - outageSince > (opts.outageMs ?? 30_000)) throw err;
        await sleep(opts.intervalMs);
        continue;
      }
      const s = current.status;
      const total = Math.max(1, s.completed + s.failed + s.pending);
      const payload = {
        completed: s.completed,
        failed: s.failed,
        pending: s.pending,
        state: s.status,
        elapsed: formatDuration(s.elapsed_s),
      };
      if (bar) {
        if (!started) bar.start(total, s.completed + s.failed, payload);
        else {
          bar.setTotal(total);
          bar.update(s.completed + s.failed, payload);
        }
        started = true;
      } else if (!opts.quiet) {
        const line = statusLine(s);
        // Lines only when something moved: a log of progress, not a flood of identical polls.
        if (line.replace(/elapsed [^,]*/, '') !== lastLine.replace(/elapsed [^,]*/, ''))
          process.stderr.write(`${line}\n`);
        lastLine = line;
      }
      if (done(s)) return current;
      await sleep(opts.intervalMs);
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    if (started) bar?.stop();
  }
}
