import { Option, type Command } from 'commander';
import { AnyJson } from '../api-types';
import { contextOf } from '../context';
import { CliError, ExitCode } from '../errors';
import { renderReport } from '../views';

/** The periods the API accepts: a number of minutes, hours or days. */
const PERIOD = /^\d+[mhd]$/;

interface ReportOptions {
  period: string;
  groupBy?: string;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .summary('success / failure rates and SLA compliance over a period')
    .description(
      'Remediation outcomes over a period: total, succeeded, failed, success rate and SLA compliance ' +
        '(95% of T1 remediations within 5 minutes); or one row per handler or tier with --group-by.',
    )
    .option('-p, --period <duration>', 'how far back: 24h, 7d, 30d, …', '7d')
    .addOption(new Option('-g, --group-by <field>', 'one row per handler or per tier').choices(['handler', 'tier']))
    .addHelpText('after', '\nExamples:\n  $ aegis report --period 7d\n  $ aegis report --period 30d --group-by handler')
    .action(async (opts: ReportOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!PERIOD.test(opts.period)) {
        throw new CliError(
          `--period "${opts.period}" is not a period: a number and m, h or d (e.g. 90m, 24h, 7d)`,
          ExitCode.usage,
        );
      }
      const query = new URLSearchParams({ period: opts.period });
      if (opts.groupBy) query.set('group_by', opts.groupBy);
      const res = await ctx.api().call('GET', `/remediations/report?${query.toString()}`, AnyJson);
      if (ctx.json) ctx.printJson(res.raw);
      const title = `Remediations over the last ${opts.period}${opts.groupBy ? `, by ${opts.groupBy}` : ''}`;
      ctx.print([title, '', ...renderReport(res.raw)]);
    });
}
