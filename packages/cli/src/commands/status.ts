import type { Command } from 'commander';
import { contextOf } from '../context';
import { renderStatus } from '../views';
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
        'snapshot and error. With --watch, follows the batch to its end and exits 1 if anything failed.',
    )
    .argument('<batch>', 'batch id, e.g. batch-20260226-001')
    .option('-w, --watch', 'follow the batch with a progress bar until it finishes')
    .option('--interval <seconds>', 'seconds between polls while watching', '1')
    .addHelpText(
      'after',
      '\nExamples:\n  $ aegis status batch-20260226-001\n  $ aegis status batch-20260226-001 --watch',
    )
    .action(async (batch: string, opts: StatusOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      // Watching is asked for explicitly here: a plain `status` is a one-shot query.
      const watch = watchOptions(ctx, { watch: opts.watch === true, interval: opts.interval });
      if (watch.enabled) return finishWatch(ctx, batch, watch);
      const { status, raw } = await fetchStatus(ctx.api(), batch);
      if (ctx.json) ctx.printJson(raw);
      ctx.print(renderStatus(status));
    });
}
