import type { ItemRecord } from '../../packages/dispatch/src/records';
import { mean, percentile, round } from './stats';

/**
 * Where an item's wall time goes, from the log lines the dispatcher writes anyway (each has an ISO
 * `time` with milliseconds): queue wait, then inside the worker
 *   start → snapshot stored (inspect, plan, snapshot id, POST to the snapshot service: fsync'd file)
 *   → apply logged (emergency-stop and batch gates, the change)
 *   → finish logged (verify, state transition, outcome, finding status, re-check scheduled).
 */
export interface SpanSummary {
  items: number;
  queue_wait_ms_p50: number;
  run_ms_p50: number;
  run_ms_mean: number;
  start_to_snapshot_ms: number;
  snapshot_to_apply_ms: number;
  apply_to_finish_ms: number;
}

type Line = Record<string, unknown>;

export function parseLines(text: string[] | string): Line[] {
  const lines = typeof text === 'string' ? text.split('\n') : text;
  const out: Line[] = [];
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Line);
    } catch {
      /* a partial line */
    }
  }
  return out;
}

export function pipelineSpans(lines: Line[], batchId: string, records: ItemRecord[]): SpanSummary {
  const at = new Map<string, Partial<Record<'start' | 'snap' | 'apply' | 'finish', number>>>();
  for (const l of lines) {
    if (l.batch_id !== batchId || typeof l.finding_id !== 'string' || typeof l.time !== 'string') continue;
    const t = Date.parse(l.time);
    const e = at.get(l.finding_id) ?? {};
    if (l.action === 'start') e.start = t;
    else if (l.action === 'snapshot' && l.status === 'running') e.snap = t;
    else if (l.action === 'apply') e.apply = t;
    else if (l.action === 'finish') e.finish = t;
    at.set(l.finding_id, e);
  }
  // Items that ran once, in order (a requeued item's last start follows its first snapshot).
  const clean = [...at.values()].filter(
    (e) =>
      e.start !== undefined &&
      e.snap !== undefined &&
      e.apply !== undefined &&
      e.finish !== undefined &&
      e.start <= e.snap &&
      e.snap <= e.apply &&
      e.apply <= e.finish,
  );
  const d = (k1: 'start' | 'snap' | 'apply', k2: 'snap' | 'apply' | 'finish') =>
    clean.flatMap((e) => (e[k1] !== undefined && e[k2] !== undefined ? [e[k2] - e[k1]] : []));
  const runs = records.flatMap((r) =>
    r.started_at && r.finished_at ? [Date.parse(r.finished_at) - Date.parse(r.started_at)] : [],
  );
  const waits = records.flatMap((r) => (r.started_at ? [Date.parse(r.started_at) - Date.parse(r.enqueued_at)] : []));
  return {
    items: records.length,
    queue_wait_ms_p50: round(percentile(waits, 50), 1),
    run_ms_p50: round(percentile(runs, 50), 1),
    run_ms_mean: round(mean(runs), 1),
    start_to_snapshot_ms: round(mean(d('start', 'snap')), 1),
    snapshot_to_apply_ms: round(mean(d('snap', 'apply')), 1),
    apply_to_finish_ms: round(mean(d('apply', 'finish')), 1),
  };
}
