import type { Command } from 'commander';
import { SnapshotList } from '../api-types';
import { contextOf } from '../context';
import { renderSnapshots } from '../views';

export function registerSnapshots(program: Command): void {
  program
    .command('snapshots')
    .summary('list the snapshots a batch took (what rollback can restore)')
    .description(
      'Lists the state snapshots taken before each change of a batch, with when they expire (the 48 h ' +
        'rollback window). Use a snapshot id with `aegis rollback BATCH --snapshot ID`.',
    )
    .argument('<batch>', 'batch id, e.g. batch-20260226-001')
    .action(async (batch: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ctx.api().call('GET', `/remediations/${encodeURIComponent(batch)}/snapshots`, SnapshotList);
      if (ctx.json) ctx.printJson(res.raw);
      ctx.print(renderSnapshots(batch, res.data));
    });
}
