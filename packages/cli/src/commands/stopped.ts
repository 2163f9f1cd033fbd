import type { Command } from 'commander';
import { AnyJson } from '../api-types';
import { contextOf } from '../context';
import { isStopped, renderStopState } from '../views';

export function registerStopped(program: Command): void {
  program
    .command('stopped')
    .summary('is an emergency stop in effect? (since when, why, by whom)')
    .description('Shows whether the dispatcher is under an emergency stop, and the recorded reason.')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ctx.api().call('GET', '/emergency-stop', AnyJson);
      if (ctx.json) ctx.printJson(res.raw);
      const stopped = isStopped(res.raw);
      const head =
        stopped === undefined
          ? 'Emergency stop state:'
          : stopped
            ? 'Emergency stop IN EFFECT: the tier queues are paused (lift it with `aegis resume`).'
            : 'No emergency stop: the dispatcher is running.';
      ctx.print([head, ...renderStopState(res.raw)]);
    });
}
