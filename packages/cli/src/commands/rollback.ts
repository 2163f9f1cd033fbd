import type { Command } from 'commander';
import { createDefaultRegistry } from '@aegis/handlers';
import { RollbackAccepted, RollbackPreview } from '../api-types';
import { confirm } from '../confirm';
import { contextOf, type Context } from '../context';
import { CliError, ExitCode } from '../errors';
import { plural } from '../format';
import { checkLocalRollback, localSettings, readSnapshotFile, restoreLocal } from '../local-rollback';
import {
  renderLocalCheck,
  renderRollbackAccepted,
  renderRollbackPreview,
  renderRollbackRecords,
  rollbackReady,
} from '../rollback-views';
import { recordsOf, watchRollback } from '../watch';
import { watchOptions } from './watch-flags';

interface RollbackOptions {
  snapshot?: string;
  fromFile?: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
  watch?: boolean;
  interval: string;
}

export function registerRollback(program: Command): void {
  program
    .command('rollback')
    .summary('restore resources from the snapshots of a batch (48 h window)')
    .description(
      'Restores what a batch changed, from the snapshots taken before each change: the whole batch, or one ' +
        'snapshot with --snapshot. Resources changed again since the remediation (drift) are refused unless ' +
        '--force. With --from-file, restores one snapshot file directly through the cloud API, without the ' +
        'dispatcher (break-glass: the gateway is down); the cloud is chosen by AEGIS_CLOUD (aws|sandbox), ' +
        'AEGIS_SANDBOX_PORT and AWS_ENDPOINT_URL, credentials by the standard AWS chain.',
    )
    .argument('[batch]', 'batch id, e.g. batch-20260226-001 (not with --from-file)')
    .option('-s, --snapshot <id>', 'only this snapshot (e.g. snap-001); default: every snapshot of the batch')
    .option('--from-file <file>', 'restore from a snapshot file (s3://…/remediations/<batch>/<snap>.json)')
    .option('--dry-run', 'only show what would be restored, the live state, and any drift')
    .option('-y, --yes', 'roll back without asking (required when stdin is not a terminal)')
    .option('--force', 'restore even over drift (or, with --from-file, past the rollback window)')
    .option('--watch', 'follow the rollback until every snapshot is restored (default on a terminal)')
    .option('--no-watch', 'return as soon as the rollback is queued')
    .option('--interval <seconds>', 'seconds between status polls while watching', '1')
    .addHelpText(
      'after',
      `
Examples:
  $ aegis rollback batch-20260226-001 --snapshot snap-001 --dry-run
  $ aegis rollback batch-20260226-001 --yes
  $ aws s3 cp s3://aegis-snapshots/remediations/batch-20260226-001/snap-001.json .
  $ AEGIS_CLOUD=aws aegis rollback --from-file snap-001.json --dry-run`,
    )
    .action(async (batch: string | undefined, opts: RollbackOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (opts.fromFile) {
        if (batch || opts.snapshot) {
          throw new CliError('--from-file takes no batch id or --snapshot: the file names both', ExitCode.usage);
        }
        return rollbackFromFile(ctx, opts.fromFile, opts);
      }
      if (!batch) throw new CliError('a batch id is required (or --from-file FILE)', ExitCode.usage);
      return rollbackBatch(ctx, batch, opts);
    });
}

async function rollbackBatch(ctx: Context, batch: string, opts: RollbackOptions): Promise<void> {
  const watch = watchOptions(ctx, opts);
  const api = ctx.api();
  const path = `/remediations/${encodeURIComponent(batch)}/rollback`;
  const request = { ...(opts.snapshot ? { snapshot_id: opts.snapshot } : {}), ...(opts.force ? { force: true } : {}) };
  const what = opts.snapshot ? `${opts.snapshot} of ${batch}` : batch;
  const preview = await api.call('POST', path, RollbackPreview, { ...request, dry_run: true });
  const lines = renderRollbackPreview(preview.data, what);
  if (opts.dryRun) {
    if (ctx.json) ctx.printJson(preview.raw);
    ctx.print([...lines, '', 'Dry run: nothing has been changed.']);
    return;
  }
  if (ctx.json) ctx.note(lines.join('\n'));
  else ctx.print(lines);
  const ready = rollbackReady(preview.data);
  if (!ready.length) {
    throw new CliError(`nothing to roll back for ${what}: every snapshot is refused (see Notes)`, ExitCode.refused);
  }
  await confirm(`Roll back ${plural(ready.length, 'snapshot')} of ${batch}?`, {
    yes: opts.yes === true,
    interactive: ctx.interactive,
    action: `roll back ${plural(ready.length, 'snapshot')} of ${batch}`,
  });
  const res = await api.call('POST', path, RollbackAccepted, { ...request, dry_run: false });
  // Part of what was asked did not happen: the run had failures even if the rest rolls back fine.
  if (res.data.refused.length) process.exitCode = ExitCode.failures;
  if (!watch.enabled) {
    if (ctx.json) ctx.printJson(res.raw);
    ctx.print([...renderRollbackAccepted(res.data), `Follow it with: aegis status ${batch}`]);
    return;
  }
  if (!ctx.json) ctx.print(renderRollbackAccepted(res.data));
  const final = await watchRollback(api, batch, res.data.accepted, { intervalMs: watch.intervalMs, quiet: ctx.json });
  const records = recordsOf(final.status, res.data.accepted);
  if (ctx.json) ctx.printJson(final.raw);
  ctx.print(['', ...renderRollbackRecords(batch, final.status.rollback_status ?? '-', records)]);
  if (records.some((r) => r.state !== 'rolled_back')) process.exitCode = ExitCode.failures;
}

async function rollbackFromFile(ctx: Context, file: string, opts: RollbackOptions): Promise<void> {
  const snap = await readSnapshotFile(file);
  const handler = createDefaultRegistry().get(snap.handler);
  const local = localSettings();
  try {
    const check = await checkLocalRollback(handler, snap, local);
    if (opts.dryRun) {
      if (ctx.json) ctx.printJson({ ...check, dry_run: true, restored: false });
      ctx.print([...renderLocalCheck(check), '', 'Dry run: nothing has been changed.']);
      return;
    }
    if (ctx.json) ctx.note(renderLocalCheck(check).join('\n'));
    else ctx.print(renderLocalCheck(check));
    if (check.expired && !opts.force) {
      throw new CliError(`${snap.snapshot_id} is past the rollback window (taken ${snap.taken_at})`, ExitCode.refused, [
        'pass --force to restore it anyway',
      ]);
    }
    if (check.drift && !opts.force) {
      throw new CliError(`${snap.resource_id} changed since the remediation; not restoring over it`, ExitCode.refused, [
        check.drift,
        'pass --force to restore the snapshot anyway (the later changes are lost)',
      ]);
    }
    await confirm(`Restore ${snap.resource_id} from ${snap.snapshot_id}?`, {
      yes: opts.yes === true,
      interactive: ctx.interactive,
      action: `restore ${snap.resource_id} from ${snap.snapshot_id}`,
    });
    const { after, left } = await restoreLocal(handler, snap, local);
    if (ctx.json) ctx.printJson({ ...check, dry_run: false, restored: left === null, state_after: after, left });
    if (left) {
      throw new CliError(
        `restore of ${snap.resource_id} did not take: it still differs from the snapshot`,
        ExitCode.failures,
        [left],
      );
    }
    ctx.print([
      '',
      `Restored ${snap.resource_id} (${snap.handler}) from ${snap.snapshot_id}; it matches the snapshot again.`,
    ]);
  } finally {
    local.clients.destroy();
  }
}
