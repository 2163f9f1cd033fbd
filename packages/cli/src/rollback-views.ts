import type { RollbackAccepted, RollbackAssessment, RollbackPreview, RollbackRecord } from './api-types';
import { plural, renderJsonBlock, renderTable, show, type Column } from './format';
import type { LocalRollbackCheck } from './local-rollback';
import { ROLLBACK_RECORD_COLUMNS } from './views';

function verdict(a: RollbackAssessment): string {
  if (a.refused) return `refused: ${a.refused.code}`;
  return a.drift ? 'ready (forced over drift)' : 'ready';
}

const ASSESSMENT_COLUMNS: Column<RollbackAssessment>[] = [
  { header: 'SNAPSHOT', value: (a) => a.snapshot_id },
  { header: 'FINDING', value: (a) => show(a.finding_id) },
  { header: 'HANDLER', value: (a) => a.handler },
  { header: 'RESOURCE', value: (a) => a.resource_id },
  { header: 'EXPIRES', value: (a) => show(a.expires_at) },
  { header: 'ROLLBACK', value: verdict },
  { header: 'UNDOES', value: (a) => (a.changes.length ? a.changes : ['-']) },
];

export function rollbackReady(p: RollbackPreview): RollbackAssessment[] {
  return p.rollbacks.filter((a) => !a.refused);
}

/** The rollback dry run: one row per snapshot, then why any is refused or drifted. */
export function renderRollbackPreview(p: RollbackPreview, what: string): string[] {
  const ready = rollbackReady(p).length;
  const out = [`Rollback of ${what}: ${ready} of ${plural(p.rollbacks.length, 'snapshot')} can be restored`, ''];
  out.push(...renderTable(ASSESSMENT_COLUMNS, p.rollbacks));
  const notes = p.rollbacks.flatMap((a) => [
    ...(a.refused ? [`  ${a.snapshot_id}: ${a.refused.message}`] : []),
    ...(a.drift && !a.refused ? [`  ${a.snapshot_id}: drift (restored anyway with --force): ${a.drift}`] : []),
  ]);
  if (notes.length) out.push('', 'Notes:', ...notes);
  return out;
}

export function renderRollbackAccepted(a: RollbackAccepted): string[] {
  const out = [
    `Rollback of ${a.batch_id} queued for ${plural(a.accepted.length, 'snapshot')}: ${a.accepted.join(', ')}`,
  ];
  for (const r of a.refused) out.push(`  refused ${r.snapshot_id}: ${r.message}`);
  return out;
}

export function renderRollbackRecords(batchId: string, status: string, records: readonly RollbackRecord[]): string[] {
  return [
    `Rollback of ${batchId} (batch rollback status: ${status})`,
    '',
    ...renderTable(ROLLBACK_RECORD_COLUMNS, records),
  ];
}

/** A manual (--from-file) rollback check: the snapshot, the live state, what comes back, drift. */
export function renderLocalCheck(c: LocalRollbackCheck): string[] {
  return [
    `Snapshot ${c.snapshot_id} of ${c.batch_id} (finding ${c.finding_id}), taken ${c.taken_at}${
      c.expired ? ' — past the rollback window' : ''
    }`,
    `${c.handler} on ${c.resource_id} in ${c.account_id}/${c.region}`,
    '',
    'The remediation did:',
    ...(c.changes.length ? c.changes.map((l) => `  - ${l}`) : ['  (nothing)']),
    'Live state now:',
    ...renderJsonBlock(c.current_state),
    'Would restore:',
    ...renderJsonBlock(c.restore_state),
    '',
    c.drift ? `Drift: ${c.drift}` : 'Drift: none — the resource is as the remediation left it.',
  ];
}
