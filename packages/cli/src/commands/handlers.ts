import type { Command } from 'commander';
import { HandlersResponse } from '../api-types';
import { contextOf } from '../context';
import { renderHandlers } from '../views';

export function registerHandlers(program: Command): void {
  program
    .command('handlers')
    .summary('list the remediation handlers, their tiers and IAM actions')
    .description(
      'Lists the handlers the dispatcher runs: tier, resource type, whether a change can be rolled back,and the IAM actions each one needs.',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ctx.api().call('GET', '/handlers', HandlersResponse);
      if (ctx.json) ctx.printJson(res.raw);
      ctx.print(renderHandlers(res.data.handlers));
    });
}
