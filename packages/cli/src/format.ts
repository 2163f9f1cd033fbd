/**
 * Plain-text rendering shared by every command: aligned tables with multi-line cells, durations,
 * and generic views for answers whose shape the CLI does not need to know.
 */

export type Cell = string | readonly string[];

export interface Column<Row> {
  header: string;
  value: (row: Row) => Cell;
}

/** Aligned columns, two spaces apart; a cell with several lines makes its row that tall. */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[]): string[] {
  const cells = rows.map((r) => columns.map((c) => toLines(c.value(r))));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((row) => Math.max(0, ...(row[i] ?? []).map((l) => l.length)))),
  );
  const line = (parts: readonly string[]) =>
    parts
      .map((p, i) => (i === parts.length - 1 ? p : p.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.header))];
  for (const row of cells) {
    const height = Math.max(1, ...row.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(row.map((c) => c[k] ?? '')));
  }
  return out;
}

function toLines(cell: Cell): string[] {
  const list = typeof cell === 'string' ? [cell] : [...cell];
  return list.flatMap((s) => s.split('\n'));
}

/** `42s`, `3m 04s`, `1h 02m`: how long something took or will take. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '-';
  // Tenths below 10 s: a fast T1 batch is "0.4s", not "0s".
  if (seconds < 10) return `${Number(Math.max(0, seconds).toFixed(1))}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** `1 action`, `2 actions`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** A scalar as a cell; objects and arrays as compact JSON. */
export function show(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** `key: value` lines for an object of unknown shape, keys aligned. */
export function renderKeyValues(obj: Readonly<Record<string, unknown>>, indent = ''): string[] {
  const keys = Object.keys(obj);
  const width = Math.max(0, ...keys.map((k) => k.length));
  return keys.map((k) => `${indent}${`${k}:`.padEnd(width + 1)} ${show(obj[k])}`);
}

/** A table over an array of objects of unknown shape: one column per key seen, in first-seen order. */
export function renderRecords(rows: readonly unknown[]): string[] {
  const objects = rows.map((r) =>
    r && typeof r === 'object' && !Array.isArray(r) ? (r as Record<string, unknown>) : { value: r },
  );
  const keys: string[] = [];
  for (const o of objects) for (const k of Object.keys(o)) if (!keys.includes(k)) keys.push(k);
  return renderTable(
    keys.map((k) => ({ header: k.toUpperCase(), value: (o: Record<string, unknown>) => show(o[k]) })),
    objects,
  );
}

/** Pretty JSON, indented for a human reading a state document. */
export function renderJsonBlock(value: unknown, indent = '  '): string[] {
  return JSON.stringify(value ?? null, null, 2)
    .split('\n')
    .map((l) => indent + l);
}

/** A percentage: `ratio` when the value is a fraction (success_rate 0.95), else already percent. */
export function formatPct(value: unknown, ratio: boolean): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return show(value);
  return `${Number((ratio ? value * 100 : value).toFixed(1))}%`;
}
