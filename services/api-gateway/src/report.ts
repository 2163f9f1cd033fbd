import { parseDuration } from '@aegis/core';
import type { OutcomeRecord, StateStore } from '@aegis/dispatch';

/** The T1 SLA: an item finished within 5 minutes of being enqueued. */
export const T1_SLA_S = 300;

const round = (n: number, d = 4) => Math.round(n * 10 ** d) / 10 ** d;

function figures(rows: OutcomeRecord[]) {
  const done = rows.filter((r) => r.status !== 'cancelled');
  const succeeded = done.filter((r) => r.status === 'succeeded' || r.status === 'noop').length;
  const failed = done.filter((r) => r.status === 'failed' || r.status === 'timed_out').length;
  return {
    total: done.length,
    succeeded,
    failed,
    cancelled: rows.length - done.length,
    success_rate: done.length ? round(succeeded / done.length) : 0,
    avg_duration_s: done.length ? round(done.reduce((s, r) => s + r.duration_s, 0) / done.length, 3) : 0,
  };
}

/** Success and SLA figures over a period, from the durable outcome records (not BullMQ's jobs). */
export async function buildReport(store: StateStore, period: string, groupBy?: 'handler' | 'tier') {
  const ms = parseDuration(period) ?? 7 * 86_400_000;
  const rows = await store.outcomesSince(Date.now() - ms);
  if (groupBy) {
    const groups = new Map<string, OutcomeRecord[]>();
    for (const r of rows) groups.set(r[groupBy], [...(groups.get(r[groupBy]) ?? []), r]);
    return [...groups.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, g]) => ({ [groupBy]: k, ...figures(g) }));
  }
  const t1 = rows.filter((r) => r.tier === 'T1' && r.status !== 'cancelled');
  const inSla = t1.filter((r) => (r.status === 'succeeded' || r.status === 'noop') && r.total_s <= T1_SLA_S).length;
  return {
    period,
    ...figures(rows),
    // With no T1 item in the period nothing missed the SLA.
    sla_compliance_pct: t1.length ? round((inSla / t1.length) * 100, 2) : 100,
    sla_items: t1.length,
    sla_target_s: T1_SLA_S,
  };
}
