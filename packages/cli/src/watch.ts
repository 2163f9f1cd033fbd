import { SingleBar } from 'cli-progress';
import type { ApiClient } from './api-client';
import { BatchStatus, isBatchDone } from './api-types';
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
    // A dry run never executed stays `planned`: nothing will move, so there is nothing to wait for.
    const settled = (s: BatchStatus) => isBatchDone(s) || s.status === 'planned';
    return await poll(api, batchId, opts, settled, seen, () => bar?.stop());
  } finally {
    if (started) bar?.stop();
  }
}

const FINISHED = (state: string) => state !== 'queued' && state !== 'running';

/** The records of the snapshots one rollback request was accepted for. */
export function recordsOf(s: BatchStatus, snapshotIds: readonly string[]) {
  return s.rollbacks.filter((r) => snapshotIds.includes(r.snapshot_id));
}

/**
 * Follows the rollback of `snapshotIds` until each is restored or failed. The batch's own
 * rollback_status also counts snapshots nobody asked to restore (a one-snapshot rollback leaves the
 * batch `partially_rolled_back`), so the records of these snapshots decide.
 */
export async function watchRollback(
  api: ApiClient,
  batchId: string,
  snapshotIds: readonly string[],
  opts: PollOptions & { quiet: boolean },
): Promise<Polled> {
  let last = -1;
  const finished = (s: BatchStatus) => recordsOf(s, snapshotIds).filter((r) => FINISHED(r.state)).length;
  const seen = (s: BatchStatus) => {
    const n = finished(s);
    if (!opts.quiet && n !== last) process.stderr.write(`rollback: ${n}/${snapshotIds.length} snapshots done\n`);
    last = n;
  };
  return poll(
    api,
    batchId,
    opts,
    (s) => finished(s) >= snapshotIds.length,
    seen,
    () => undefined,
  );
}
