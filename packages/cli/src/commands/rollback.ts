import type { Command } from 'commander';
import { createDefaultRegistry } from '@aegis/handlers';
import { AnyJson } from '../api-types';
import { confirm } from '../confirm';
import { contextOf, type Context } from '../context';
import { CliError, ExitCode } from '../errors';
import { renderJsonBlock, renderKeyValues, renderRecords } from '../format';
import {
  checkLocalRollback,
  localSettings,
  readSnapshotFile,
  restoreLocal,
  type LocalRollbackCheck,
} from '../local-rollback';

interface RollbackOptions {
  snapshot?: string;
  fromFile?: string;
  dryRun?: boolean;
  yes?: boolean;
  force?: boolean;
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

function renderAnswer(raw: unknown): string[] {
  if (Array.isArray(raw)) return renderRecords(raw);
  if (!raw || typeof raw !== 'object') return [JSON.stringify(raw)];
  const rec = raw as Record<string, unknown>;
  const lists = Object.entries(rec).filter(([, v]) => Array.isArray(v));
  const scalars = Object.fromEntries(Object.entries(rec).filter(([, v]) => !Array.isArray(v)));
  return [...renderKeyValues(scalars), ...lists.flatMap(([k, v]) => ['', `${k}:`, ...renderRecords(v as unknown[])])];
}

async function rollbackBatch(ctx: Context, batch: string, opts: RollbackOptions): Promise<void> {
  const api = ctx.api();
  const path = `/remediations/${encodeURIComponent(batch)}/rollback`;
  const target = opts.snapshot ? { snapshot_id: opts.snapshot } : {};
  const what = opts.snapshot ? `${opts.snapshot} of ${batch}` : `every snapshot of ${batch}`;
  const preview = await api.call('POST', path, AnyJson, {
    ...target,
    dry_run: true,
    ...(opts.force ? { force: true } : {}),
  });
  if (opts.dryRun) {
    if (ctx.json) ctx.printJson(preview.raw);
    ctx.print([`Rollback dry run for ${what} (nothing has been changed)`, '', ...renderAnswer(preview.raw)]);
    return;
  }
  const lines = [`Rollback of ${what}:`, '', ...renderAnswer(preview.raw)];
  if (ctx.json) ctx.note(lines.join('\n'));
  else ctx.print(lines);
  await confirm(`Roll back ${what}?`, {
    yes: opts.yes === true,
    interactive: ctx.interactive,
    action: `roll back ${what}`,
  });
  const res = await api.call('POST', path, AnyJson, {
    ...target,
    dry_run: false,
    ...(opts.force ? { force: true } : {}),
  });
  if (ctx.json) ctx.printJson(res.raw);
  ctx.print(['', 'Rollback accepted:', ...renderAnswer(res.raw), '', `Follow it with: aegis status ${batch}`]);
}

function renderCheck(c: LocalRollbackCheck): string[] {
  return [
    `Snapshot ${c.snapshot_id} of ${c.batch_id} (finding ${c.finding_id}), taken ${c.taken_at}${c.expired ? ' — past the rollback window' : ''}`,
    `${c.handler} on ${c.resource_id} in ${c.account_id}/${c.region}`,
    '',
    'Live state now:',
    ...renderJsonBlock(c.current_state),
    'Would restore:',
    ...renderJsonBlock(c.restore_state),
    '',
    c.drift ? `Drift: ${c.drift}` : 'Drift: none — the resource is as the remediation left it.',
  ];
}

async function rollbackFromFile(ctx: Context, file: string, opts: RollbackOptions): Promise<void> {
  const snap = await readSnapshotFile(file);
  const handler = createDefaultRegistry().get(snap.handler);
  const local = localSettings();
  try {
    const check = await checkLocalRollback(handler, snap, local);
    if (opts.dryRun) {
      if (ctx.json) ctx.printJson({ ...check, dry_run: true, restored: false });
      ctx.print([...renderCheck(check), '', 'Dry run: nothing has been changed.']);
      return;
    }
    if (ctx.json) ctx.note(renderCheck(check).join('\n'));
    else ctx.print(renderCheck(check));
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
    await confirm(`Restore ${snap.resource_id} to the snapshot ${snap.snapshot_id}?`, {
      yes: opts.yes === true,
      interactive: ctx.interactive,
      action: `restore ${snap.resource_id} from ${snap.snapshot_id}`,
    });
    const after = await restoreLocal(handler, snap, local);
    if (ctx.json) ctx.printJson({ ...check, dry_run: false, restored: true, state_after: after });
    ctx.print([
      '',
      `Restored ${snap.resource_id} (${snap.handler}) from ${snap.snapshot_id}.`,
      'State now:',
      ...renderJsonBlock(after),
    ]);
  } finally {
    local.clients.destroy();
  }
}
