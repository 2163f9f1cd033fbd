import { CliError, ExitCode } from '../errors';
import type { Context } from '../context';
import { batchHasFailures, renderStatus, renderSummary } from '../views';
import { watchBatch } from '../watch';

export interface WatchChoice {
  enabled: boolean;
  intervalMs: number;
}

/**
 * --watch / --no-watch, defaulting to "on" for a person at a terminal and "off" for scripts and
 * --json, so a pipeline gets the accepted batch at once unless it asks to wait.
 */
export function watchOptions(ctx: Context, opts: { watch?: boolean; interval: string }): WatchChoice {
  const seconds = Number(opts.interval);
  if (!Number.isFinite(seconds) || seconds < 0.2 || seconds > 600) {
    throw new CliError(
      `--interval must be a number of seconds between 0.2 and 600, got "${opts.interval}"`,
      ExitCode.usage,
    );
  }
  return { enabled: opts.watch ?? (ctx.stdoutTty && !ctx.json), intervalMs: Math.round(seconds * 1000) };
}

/** Follow a batch to its end, print the outcome, and exit 1 if anything failed. */
export async function finishWatch(ctx: Context, batchId: string, watch: WatchChoice): Promise<void> {
  const final = await watchBatch(ctx.api(), batchId, {
    intervalMs: watch.intervalMs,
    bar: process.stderr.isTTY === true,
    quiet: ctx.json && process.stderr.isTTY !== true,
  });
  if (ctx.json) ctx.printJson(final.raw);
  else if (final.status.status === 'planned') {
    ctx.print([
      ...renderStatus(final.status),
      '',
      `${batchId} is a dry run that has not been executed: nothing to follow.`,
    ]);
  } else ctx.print(['', ...renderStatus(final.status), '', ...renderSummary(final.status)]);
  if (batchHasFailures(final.status)) process.exitCode = ExitCode.failures;
}
