import { readFile } from 'node:fs/promises';
import { CommonEnv, ConfigError, Json, Snapshot, classifyError, parseEnv } from '@aegis/core';
import {
  CloudClients,
  DEFAULT_SETTINGS,
  type Handler,
  type HandlerContext,
  type RollbackInput,
  type Target,
} from '@aegis/handlers';
import type { z } from 'zod';
import { CliError, ExitCode } from './errors';

/** A snapshot file as the snapshot service stores it: DESIGN.md's fields plus the planned `ops`. */
export const SnapshotFile = Snapshot.extend({ ops: Json });
export type SnapshotFile = z.infer<typeof SnapshotFile>;

export async function readSnapshotFile(path: string): Promise<SnapshotFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
    throw new CliError(`cannot read snapshot file ${path}: ${why}`, ExitCode.usage);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch (err) {
    throw new CliError(`${path} is not JSON: ${err instanceof Error ? err.message : String(err)}`, ExitCode.usage);
  }
  const r = SnapshotFile.safeParse(doc);
  if (!r.success) {
    throw new CliError(
      `${path} is not an Aegis snapshot (as stored under <store>/remediations/<batch_id>/<snapshot_id>.json)`,
      ExitCode.usage,
      r.error.issues.slice(0, 10).map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`),
    );
  }
  return r.data;
}

/** Which cloud the CLI reaches and how, from the same variables the services read. */
const LocalEnv = CommonEnv.pick({
  AEGIS_CLOUD: true,
  AEGIS_SANDBOX_PORT: true,
  AEGIS_KEY_MAX_AGE_DAYS: true,
  AEGIS_ROLLBACK_WINDOW: true,
});

export interface LocalSettings {
  clients: CloudClients;
  ctx: HandlerContext;
  rollbackWindowMs: number;
  /** For messages: where the cloud calls go. */
  endpoint: string;
}

export function localSettings(env: NodeJS.ProcessEnv = process.env): LocalSettings {
  let e: z.infer<typeof LocalEnv>;
  try {
    e = parseEnv(LocalEnv, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, ExitCode.usage);
    throw err;
  }
  const endpoint = env.AWS_ENDPOINT_URL?.trim() || undefined;
  const clients = new CloudClients({ cloud: e.AEGIS_CLOUD, sandboxPort: e.AEGIS_SANDBOX_PORT, endpoint });
  const where =
    e.AEGIS_CLOUD === 'sandbox'
      ? `the aws-sandbox at ${endpoint ?? `http://127.0.0.1:${e.AEGIS_SANDBOX_PORT}`}`
      : (endpoint ?? 'AWS (standard credential chain)');
  return {
    clients,
    ctx: {
      clients,
      settings: { ...DEFAULT_SETTINGS, keyMaxAgeDays: e.AEGIS_KEY_MAX_AGE_DAYS },
      now: () => new Date(),
    },
    rollbackWindowMs: e.AEGIS_ROLLBACK_WINDOW,
    endpoint: where,
  };
}

export const targetOf = (s: SnapshotFile): Target => ({
  resource_id: s.resource_id,
  account_id: s.account_id,
  region: s.region,
});

export const rollbackInputOf = (s: SnapshotFile): RollbackInput => ({
  previous_state: s.previous_state,
  planned_state: s.planned_state,
  ops: s.ops,
});

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'ECONNRESET']);

/** A cloud call failed: say which step, and map "no endpoint" to exit 4 like an unreachable API. */
export function cloudFailure(step: string, err: unknown, endpoint: string): CliError {
  const c = classifyError(err);
  if (UNREACHABLE_CODES.has(c.code)) {
    return new CliError(`${step}: cannot reach ${endpoint} (${c.code})`, ExitCode.unreachable, [
      'check AEGIS_CLOUD, AEGIS_SANDBOX_PORT or AWS_ENDPOINT_URL',
    ]);
  }
  if (c.class === 'not_found')
    return new CliError(`${step}: the resource no longer exists (${c.code})`, ExitCode.failures, [c.message]);
  return new CliError(`${step} failed: ${c.code}: ${c.message}`, ExitCode.failures);
}

/** What a manual rollback finds before it acts: the live state and whether it moved since. */
export interface LocalRollbackCheck {
  snapshot_id: string;
  batch_id: string;
  finding_id: string;
  handler: string;
  resource_id: string;
  account_id: string;
  region: string;
  taken_at: string;
  expired: boolean;
  changes: string[];
  current_state: Json;
  restore_state: Json;
  drift: string | null;
}

export async function checkLocalRollback(
  handler: Handler,
  snap: SnapshotFile,
  local: LocalSettings,
  now: Date = new Date(),
): Promise<LocalRollbackCheck> {
  if (!handler.rollback.reversible) {
    throw new CliError(
      `${snap.snapshot_id} cannot be rolled back: ${handler.name} is not reversible — ${handler.rollback.reason}`,
      ExitCode.refused,
    );
  }
  let current: Json;
  try {
    current = await handler.inspect(local.ctx, targetOf(snap));
  } catch (err) {
    throw cloudFailure(`reading ${snap.resource_id}`, err, local.endpoint);
  }
  const takenMs = Date.parse(snap.taken_at);
  return {
    snapshot_id: snap.snapshot_id,
    batch_id: snap.batch_id,
    finding_id: snap.finding_id,
    handler: snap.handler,
    resource_id: snap.resource_id,
    account_id: snap.account_id,
    region: snap.region,
    taken_at: snap.taken_at,
    changes: snap.changes,
    expired: Number.isFinite(takenMs) && now.getTime() - takenMs > local.rollbackWindowMs,
    current_state: current,
    restore_state: snap.previous_state,
    drift: handler.rollback.drifted(current, rollbackInputOf(snap)),
  };
}

/**
 * Put the resource back as the snapshot found it, then read it again: measured against the
 * previous state, any "drift" left means the restore did not take.
 */
export async function restoreLocal(
  handler: Handler,
  snap: SnapshotFile,
  local: LocalSettings,
): Promise<{ after: Json; left: string | null }> {
  if (!handler.rollback.reversible) throw new CliError(`${handler.name} is not reversible`, ExitCode.refused);
  const input = rollbackInputOf(snap);
  try {
    await handler.rollback.restore(local.ctx, targetOf(snap), input);
  } catch (err) {
    throw cloudFailure(`restoring ${snap.resource_id}`, err, local.endpoint);
  }
  let after: Json;
  try {
    after = await handler.inspect(local.ctx, targetOf(snap));
  } catch (err) {
    throw cloudFailure(`re-reading ${snap.resource_id} after the restore`, err, local.endpoint);
  }
  return { after, left: handler.rollback.drifted(after, { ...input, planned_state: snap.previous_state }) };
}
