import type { Command } from 'commander';
import { contextOf } from '../context';
import { isBatchDone } from '../api-types';
import { ExitCode } from '../errors';
import { batchHasFailures, renderStatus } from '../views';
import { fetchStatus } from '../watch';
import { finishWatch, watchOptions } from './watch-flags';

interface StatusOptions {
  watch?: boolean;
  interval: string;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .summary('show a batch: counts, items, errors, rollback status')
    .description(
      'Shows where a batch stands: completed / failed / pending, each item with its state, attempts, ' +
        'snapshot and error, and its rollbacks. On a terminal it follows a running batch with a progress bar ' +
        'until it ends (--no-watch: one look). Exits 1 when the batch finished with failures.',
    )
    .argument('<batch>', 'batch id, e.g. batch-20260226-001')
    .option('-w, --watch', 'follow the batch until it finishes (default on a terminal)')
    .option('--no-watch', 'one look, even on a terminal')
    .option('--interval <seconds>', 'seconds between polls while watching', '1')
    .addHelpText(
      'after',
      '\nExamples:\n  $ aegis status batch-20260226-001\n  $ aegis status batch-20260226-001 --watch',
    )
    .action(async (batch: string, opts: StatusOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const watch = watchOptions(ctx, opts);
      if (watch.enabled) return finishWatch(ctx, batch, watch);
      const { status, raw } = await fetchStatus(ctx.api(), batch);
      if (ctx.json) ctx.printJson(raw);
      ctx.print(renderStatus(status));
      if (isBatchDone(status) && batchHasFailures(status)) process.exitCode = ExitCode.failures;
    });
}
