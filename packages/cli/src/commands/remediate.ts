import { Option, type Command } from 'commander';
import { TIER_NAMES } from '@aegis/core';
import { DryRunResponse, ExecuteResponse } from '../api-types';
import { confirm } from '../confirm';
import { contextOf, parseIdList, type Context } from '../context';
import { plural } from '../format';
import { countPreview, renderPreview } from '../views';
import { finishWatch, watchOptions } from './watch-flags';

interface RemediateOptions {
  findingIds: string[];
  dryRun?: boolean;
  tier?: string;
  changeTicket?: string;
  yes?: boolean;
  watch?: boolean;
  interval: string;
}

export function registerRemediate(program: Command): void {
  program
    .command('remediate')
    .summary('preview (dry run) and execute the fixes for findings')
    .description(
      'Previews the fix for each finding (dry run), asks for confirmation, executes the batch through the tier ' +
        'queues and, on a terminal, follows it with a progress bar. Every resource is snapshotted before it is ' +
        'changed; `aegis rollback BATCH` undoes the batch for 48 h.',
    )
    .requiredOption(
      '-f, --finding-ids <ids>',
      'finding ids, comma-separated (f-1,f-2) or repeated',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--dry-run', 'only preview: print the planned changes and the batch id, change nothing')
    .addOption(
      new Option('--tier <tier>', 'run on this executor tier instead of each handler’s own').choices(TIER_NAMES),
    )
    .option('--change-ticket <id>', 'change-management ticket recorded with the batch (e.g. CHG-1234)')
    .option('-y, --yes', 'execute without asking (required when stdin is not a terminal)')
    .option('--watch', 'follow the batch to the end with a progress bar (default on a terminal)')
    .option('--no-watch', 'return as soon as the batch is accepted')
    .option('--interval <seconds>', 'seconds between status polls while watching', '1')
    .addHelpText(
      'after',
      `
Examples:
  $ aegis remediate --finding-ids f-abc123,f-def456 --dry-run
  $ aegis remediate --finding-ids f-abc123,f-def456 --tier T1 --change-ticket CHG-1234
  $ aegis remediate --finding-ids f-abc123 --yes --json          # for scripts: prints {batch_id, status, ...}

Exit status: 0 when the batch was accepted (and, when watched, completed without failures),
1 when a watched batch had failures, 5 when execution was refused (no --yes, declined).`,
    )
    .action(async (opts: RemediateOptions, cmd: Command) => remediate(contextOf(cmd), opts));
}

async function remediate(ctx: Context, opts: RemediateOptions): Promise<void> {
  const findingIds = parseIdList(opts.findingIds, '--finding-ids');
  const watch = watchOptions(ctx, opts);
  const api = ctx.api();
  const tier = opts.tier ? { executor_tier: opts.tier } : {};
  const dry = await api.call('POST', '/remediations', DryRunResponse, {
    finding_ids: findingIds,
    dry_run: true,
    ...tier,
  });
  const preview = dry.data;
  if (opts.dryRun) {
    if (ctx.json) ctx.printJson(dry.raw);
    ctx.print([
      ...renderPreview(preview),
      '',
      `To execute: aegis remediate --finding-ids ${findingIds.join(',')}${opts.tier ? ` --tier ${opts.tier}` : ''}`,
    ]);
    return;
  }

  // The preview goes to stderr under --json, so a script still sees what it is about to confirm.
  const previewLines = renderPreview(preview);
  if (ctx.json) ctx.note(previewLines.join('\n'));
  else ctx.print(previewLines);
  const counts = countPreview(preview);
  if (counts.errors)
    ctx.note(
      `warning: ${plural(counts.errors, 'item')} could not be planned (see CHANGES); the gateway may refuse the batch.`,
    );
  await confirm(`Execute ${preview.batch_id}: ${plural(counts.changing, 'resource')} to change?`, {
    yes: opts.yes === true,
    interactive: ctx.interactive,
    action: `execute ${preview.batch_id} (${plural(counts.changing, 'resource')} to change)`,
  });

  const exec = await api.call('POST', '/remediations', ExecuteResponse, {
    batch_id: preview.batch_id,
    finding_ids: findingIds,
    dry_run: false,
    ...tier,
    ...(opts.changeTicket ? { change_ticket: opts.changeTicket } : {}),
  });
  const accepted = exec.data;
  if (accepted.dispatcher_paused) {
    ctx.note(
      `note: the dispatcher is under an emergency stop; ${accepted.batch_id} is queued and runs after \`aegis resume\`.`,
    );
  }
  if (!watch.enabled) {
    if (ctx.json) ctx.printJson(exec.raw);
    ctx.print([
      `Batch ${accepted.batch_id} accepted (${accepted.status}${accepted.started_at ? `, started ${accepted.started_at}` : ''}).`,
      `Follow it with: aegis status ${accepted.batch_id} --watch`,
    ]);
    return;
  }
  if (!ctx.json) ctx.print(`Batch ${accepted.batch_id} accepted; watching (Ctrl-C stops watching, not the batch).`);
  await finishWatch(ctx, accepted.batch_id, watch);
}
