import { SingleBar } from 'cli-progress';
import type { ApiClient } from './api-client';
import { BatchStatus, isBatchDone, isRollbackDone } from './api-types';
import { ApiError, UnreachableError } from './errors';
import { formatDuration } from './format';
import { statusLine } from './views';

export interface Polled {
  status: BatchStatus;
  raw: unknown;
}

export interface PollOptions {
  intervalMs: number;
  /** How long the gateway may be unreachable in a row before watching gives up. */
  outageMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A restart of the gateway while watching is not the batch failing: keep polling for a while. */
function isTransient(err: unknown): boolean {
  return err instanceof UnreachableError || (err instanceof ApiError && err.status >= 500);
}

export async function fetchStatus(api: ApiClient, batchId: string): Promise<Polled> {
  const res = await api.call('GET', `/remediations/${encodeURIComponent(batchId)}`, BatchStatus);
  return { status: res.data, raw: res.raw };
}

/**
 * Polls a batch until `done` says so, calling `seen` with every answer. Ctrl-C stops watching,
 * not the batch, and says how to pick it up again.
 */
async function poll(
  api: ApiClient,
  batchId: string,
  opts: PollOptions,
  done: (s: BatchStatus) => boolean,
  seen: (s: BatchStatus) => void,
  onInterrupt: () => void,
): Promise<Polled> {
  let outageSince: number | undefined;
  const interrupted = () => {
    onInterrupt();
    process.stderr.write(
      `\nstopped watching; ${batchId} carries on. Follow it with: aegis status ${batchId} --watch\n`,
    );
    process.exit(130);
  };
  process.once('SIGINT', interrupted);
  try {
    for (;;) {
      let current: Polled;
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
      seen(current.status);
      if (done(current.status)) return current;
      await sleep(opts.intervalMs);
    }
  } finally {
    process.removeListener('SIGINT', interrupted);
  }
}

export interface WatchOptions extends PollOptions {
  /** Draw a live bar (stderr is a terminal); otherwise print a line whenever the counts move. */
  bar: boolean;
  /** Print nothing while watching (--json without a terminal). */
  quiet: boolean;
}

/** Follows a batch to its end showing completed / failed / pending; returns the last answer. */
export async function watchBatch(api: ApiClient, batchId: string, opts: WatchOptions): Promise<Polled> {
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
  let lastKey = '';
  const seen = (s: BatchStatus) => {
    const total = Math.max(1, s.completed + s.failed + s.pending);
    const payload = {
      completed: s.completed,
      failed: s.failed,
      pending: s.pending,
      state: s.status,
      elapsed: formatDuration(s.elapsed_s),
    };
    if (bar) {
      if (started) {
        bar.setTotal(total);
        bar.update(s.completed + s.failed, payload);
      } else bar.start(total, s.completed + s.failed, payload);
      started = true;
      return;
    }
    if (opts.quiet) return;
    // A line only when something moved: a log of progress, not one line per poll.
    const key = `${s.status} ${s.completed} ${s.failed} ${s.pending}`;
    if (key !== lastKey) process.stderr.write(`${statusLine(s)}\n`);
    lastKey = key;
  };
  try {
    return await poll(api, batchId, opts, isBatchDone, seen, () => bar?.stop());
  } finally {
    if (started) bar?.stop();
  }
}

/** Follows a batch's rollback until every accepted snapshot is restored or failed. */
export async function watchRollback(
  api: ApiClient,
  batchId: string,
  opts: PollOptions & { quiet: boolean },
): Promise<Polled> {
  let last = -1;
  const seen = (s: BatchStatus) => {
    const finished = s.rollbacks.filter((r) => r.state !== 'queued' && r.state !== 'running').length;
    if (!opts.quiet && finished !== last) {
      process.stderr.write(`rollback ${s.rollback_status ?? '-'}: ${finished}/${s.rollbacks.length} snapshots done\n`);
    }
    last = finished;
  };
  return poll(api, batchId, opts, isRollbackDone, seen, () => undefined);
}
