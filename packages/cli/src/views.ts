import type {
  BatchStatus,
  DryRunResponse,
  HandlerInfo,
  PreviewAction,
  RollbackRecord,
  SnapshotEntry,
} from './api-types';
import {
  formatDuration,
  formatPct,
  plural,
  renderKeyValues,
  renderRecords,
  renderTable,
  show,
  type Column,
} from './format';

/** What a preview row says under CHANGES: the changes, or why there are none. */
function changesCell(a: PreviewAction): string[] {
  if (a.error) return [`error: ${a.error}`];
  if (a.skip_reason) return [`skipped: ${a.skip_reason}`];
  if (a.changes.length === 0) return ['(already compliant)'];
  return a.changes;
}

const PREVIEW_COLUMNS: Column<PreviewAction>[] = [
  { header: 'FINDING', value: (a) => a.finding_id },
  { header: 'HANDLER', value: (a) => a.handler },
  { header: 'TIER', value: (a) => a.tier },
  { header: 'RESOURCE', value: (a) => a.resource_id },
  { header: 'NOOP', value: (a) => (a.noop ? 'yes' : 'no') },
  { header: 'CHANGES', value: changesCell },
];

export interface PreviewCounts {
  actions: number;
  changing: number;
  noop: number;
  errors: number;
}

export function countPreview(p: DryRunResponse): PreviewCounts {
  const a = p.actions_preview;
  return {
    actions: a.length,
    changing: a.filter((x) => !x.noop && !x.error).length,
    noop: a.filter((x) => x.noop && !x.error).length,
    errors: a.filter((x) => !!x.error).length,
  };
}

export function renderPreview(p: DryRunResponse): string[] {
  const c = countPreview(p);
  const summary = [
    plural(c.actions, 'action'),
    `${c.changing} to change`,
    `${c.noop} noop`,
    ...(c.errors ? [plural(c.errors, 'error')] : []),
    `estimated ${formatDuration(p.estimated_duration_s)}`,
  ].join(', ');
  return [
    `Dry run ${p.batch_id} (nothing has been changed)`,
    '',
    ...renderTable(PREVIEW_COLUMNS, p.actions_preview),
    '',
    `batch_id: ${p.batch_id}  ·  ${summary}`,
  ];
}

const ITEM_COLUMNS: Column<BatchStatus['items'][number]>[] = [
  { header: 'FINDING', value: (i) => i.finding_id },
  { header: 'HANDLER', value: (i) => i.handler },
  { header: 'TIER', value: (i) => show(i.tier) },
  { header: 'RESOURCE', value: (i) => i.resource_id },
  { header: 'STATE', value: (i) => i.state },
  { header: 'ATTEMPTS', value: (i) => show(i.attempts) },
  { header: 'SNAPSHOT', value: (i) => show(i.snapshot_id) },
  { header: 'ERROR', value: (i) => (i.error ? i.error : '') },
];

/** One line: where the batch stands. */
export function statusLine(s: BatchStatus): string {
  const parts = [
    `${s.completed} completed`,
    `${s.failed} failed`,
    `${s.pending} pending`,
    `elapsed ${formatDuration(s.elapsed_s)}`,
  ];
  if (s.rollback_status && s.rollback_status !== 'none') parts.push(`rollback ${s.rollback_status}`);
  return `${s.batch_id}  ${s.status}  ·  ${parts.join(', ')}`;
}

export const ROLLBACK_RECORD_COLUMNS: Column<RollbackRecord>[] = [
  { header: 'SNAPSHOT', value: (r) => r.snapshot_id },
  { header: 'HANDLER', value: (r) => show(r.handler) },
  { header: 'RESOURCE', value: (r) => show(r.resource_id) },
  { header: 'ROLLBACK', value: (r) => r.state },
  { header: 'ERROR', value: (r) => [r.error, r.message].filter(Boolean).join(': ') },
];

export function renderStatus(s: BatchStatus): string[] {
  const out = [statusLine(s)];
  if (s.stop_reason) out.push(`stopped: ${s.stop_reason}`);
  if (s.items.length) out.push('', ...renderTable(ITEM_COLUMNS, s.items));
  if (s.rollbacks.length) out.push('', ...renderTable(ROLLBACK_RECORD_COLUMNS, s.rollbacks));
  return out;
}

/** A batch went wrong when an item failed or the batch did not complete. */
export function batchHasFailures(s: BatchStatus): boolean {
  return s.failed > 0 || (s.status !== 'completed' && s.status !== 'running' && s.status !== 'planned');
}

export function renderSummary(s: BatchStatus): string[] {
  const failedItems = s.items.filter((i) => i.error || ['failed', 'timed_out', 'cancelled'].includes(i.state));
  const head = batchHasFailures(s)
    ? `Batch ${s.batch_id} finished with failures (${s.status}): ${s.failed} failed, ${s.completed} completed`
    : `Batch ${s.batch_id} completed: ${plural(s.completed, 'item')} done in ${formatDuration(s.elapsed_s)}`;
  const out = [head];
  if (s.stop_reason) out.push(`  stopped: ${s.stop_reason}`);
  for (const i of failedItems) {
    const why = [i.error, i.error_message].filter(Boolean).join(': ');
    out.push(`  ${i.finding_id} ${i.handler} ${i.resource_id}: ${i.state}${why ? ` (${why})` : ''}`);
  }
  if (batchHasFailures(s)) out.push(`  details: aegis status ${s.batch_id}`);
  return out.map((l) => l.trimEnd());
}

const SNAPSHOT_COLUMNS: Column<SnapshotEntry>[] = [
  { header: 'SNAPSHOT', value: (s) => s.snapshot_id },
  { header: 'FINDING', value: (s) => show(s.finding_id) },
  { header: 'HANDLER', value: (s) => s.handler },
  { header: 'RESOURCE', value: (s) => s.resource_id },
  { header: 'TAKEN', value: (s) => s.taken_at },
  { header: 'EXPIRES', value: (s) => show(s.expires_at) },
];

export function renderSnapshots(batchId: string, list: readonly SnapshotEntry[]): string[] {
  if (!list.length) return [`No snapshots for ${batchId} (nothing was changed, or it has not run yet).`];
  return renderTable(SNAPSHOT_COLUMNS, list);
}

const HANDLER_COLUMNS: Column<HandlerInfo>[] = [
  { header: 'HANDLER', value: (h) => h.name },
  { header: 'TIER', value: (h) => h.tier },
  { header: 'ROLLBACK', value: (h) => (h.reversible === false ? 'no' : 'yes') },
  { header: 'RESOURCE', value: (h) => show(h.resource_type) },
];

/** A summary table, then one block per handler: what it does, why it cannot be undone, IAM actions. */
export function renderHandlers(list: readonly HandlerInfo[]): string[] {
  const blocks = list.flatMap((h) => [
    '',
    h.name,
    ...(h.description ? [`  ${h.description}`] : []),
    ...(h.reversible === false ? [`  not reversible: ${h.irreversible_reason ?? 'declared irreversible'}`] : []),
    `  IAM actions: ${h.iam_actions.join(', ') || '-'}`,
  ]);
  return [...renderTable(HANDLER_COLUMNS, list), ...blocks];
}

/** The emergency-stop flag, whatever the gateway calls it. */
export function isStopped(raw: unknown): boolean | undefined {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
  const r = raw as Record<string, unknown>;
  for (const k of ['stopped', 'paused']) if (typeof r[k] === 'boolean') return r[k];
  return undefined;
}

/** The emergency-stop state: reason, who, when, then what is in flight per tier. */
export function renderStopState(raw: unknown): string[] {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const { in_flight: inFlight, paused: _p, stopped: _s, ...facts } = raw as Record<string, unknown>;
  const out = Object.keys(facts).length ? renderKeyValues(facts, '  ') : [];
  if (inFlight && typeof inFlight === 'object' && !Array.isArray(inFlight)) {
    const rows = Object.entries(inFlight as Record<string, unknown>).map(([tier, v]) => ({
      tier,
      ...(v && typeof v === 'object' ? (v as Record<string, unknown>) : { value: v }),
    }));
    out.push('', ...renderRecords(rows).map((l) => `  ${l}`));
  }
  return out;
}

/** The report: ratios as percentages, durations in seconds, anything else as the API sent it. */
export function renderReport(raw: unknown): string[] {
  const pretty = (o: Record<string, unknown>) =>
    Object.fromEntries(
      Object.entries(o).map(([k, v]) => [
        k,
        k === 'success_rate' ? formatPct(v, true) : k.endsWith('_pct') ? formatPct(v, false) : v,
      ]),
    );
  if (Array.isArray(raw)) {
    if (!raw.length) return ['(no remediations in this period)'];
    return renderRecords(raw.map((r) => (r && typeof r === 'object' ? pretty(r as Record<string, unknown>) : r)));
  }
  if (raw && typeof raw === 'object') return renderKeyValues(pretty(raw as Record<string, unknown>), '  ');
  return [JSON.stringify(raw)];
}
