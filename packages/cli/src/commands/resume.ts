import type { Command } from 'commander';
import { AnyJson } from '../api-types';
import { contextOf } from '../context';
import { renderStopState } from '../views';

export function registerResume(program: Command): void {
  program
    .command('resume')
    .summary('lift an emergency stop: the tier queues run again')
    .description('Lifts an emergency stop: every tier queue resumes and queued items run.')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ctx.api().call('DELETE', '/emergency-stop', AnyJson);
      if (ctx.json) ctx.printJson(res.raw ?? { stopped: false });
      ctx.print(['Dispatcher resumed: the tier queues run again.', ...renderStopState(res.raw)]);
    });
}
