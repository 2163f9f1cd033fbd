import type { Command } from 'commander';
import { AnyJson } from '../api-types';
import { contextOf } from '../context';
import { CliError, ExitCode } from '../errors';
import { renderStopState } from '../views';

export function registerStop(program: Command): void {
  program
    .command('stop')
    .summary('emergency stop: pause every tier queue at once')
    .description(
      'Emergency stop: pauses every tier queue on every replica. Items already running stop before their ' +
        'apply step; new batches are still accepted and queued, and nothing runs until `aegis resume`.',
    )
    .requiredOption('-r, --reason <text>', 'why, recorded with the stop (shown by `aegis stopped`)')
    .addHelpText('after', '\nExample:\n  $ aegis stop --reason "failure rate above 20% on T2, investigating"')
    .action(async (opts: { reason: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const reason = opts.reason.trim();
      if (!reason) throw new CliError('--reason must not be empty', ExitCode.usage);
      const res = await ctx.api().call('POST', '/emergency-stop', AnyJson, { reason });
      if (ctx.json) ctx.printJson(res.raw);
      ctx.print([
        'Emergency stop in effect: every tier queue is paused.',
        ...renderStopState(res.raw),
        'Resume with: aegis resume',
      ]);
    });
}
