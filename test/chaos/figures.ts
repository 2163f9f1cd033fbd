import { appendFileSync, closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

/**
 * The chaos suite's figures: each test file counts into a sheet, appends it (one JSON line) to a
 * file shared by the jest run, and the file that completes the set prints one fixed-width table
 * and fails when a must-be-0 figure is not 0.
 */
export const FIGURES = [
  { key: 'faults', label: 'faults injected', mustBeZero: false },
  { key: 'items', label: 'items processed', mustBeZero: false },
  { key: 'lost', label: 'items lost', mustBeZero: true },
  { key: 'unsnapshotted', label: 'changes without snapshot', mustBeZero: true },
  { key: 'duplicates', label: 'duplicate effects', mustBeZero: true },
  { key: 'badInputs', label: 'bad inputs tried', mustBeZero: false },
  { key: 'answers5xx', label: '5xx answers', mustBeZero: true },
  { key: 'authCases', label: 'auth cases checked', mustBeZero: false },
] as const;
export type FigureKey = (typeof FIGURES)[number]['key'];
type Counts = Record<FigureKey, number>;

interface SheetLine {
  file: string;
  counts: Counts;
}

const zero = (): Counts => ({
  faults: 0,
  items: 0,
  lost: 0,
  unsnapshotted: 0,
  duplicates: 0,
  badInputs: 0,
  answers5xx: 0,
  authCases: 0,
});

/**
 * The jest process that owns the run: the parent of a jest worker, or this process under
 * --runInBand.
 */
function jestMainPid(): number {
  return /jest-worker|processChild/.test(process.argv[1] ?? '') ? process.ppid : process.pid;
}

/** The run's key: the jest main's pid and start time (pids are reused, the pair is not). */
function runKey(): string {
  const pid = jestMainPid();
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return `${pid}-${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0'}`;
  } catch {
    return String(pid);
  }
}

/** The chaos files this run executes: those matching jest's path patterns (all when none). */
function expectedFiles(): string[] {
  const all = readdirSync(__dirname).filter((f) => f.endsWith('.test.ts'));
  let args: string[];
  try {
    args = readFileSync(`/proc/${jestMainPid()}/cmdline`, 'utf8').split('\0').slice(2);
  } catch {
    return all;
  }
  // Positional arguments are jest's path patterns; an option's value that is no regex is no pattern.
  const patterns = args
    .filter((a) => a && !a.startsWith('-'))
    .flatMap((a) => {
      try {
        return [new RegExp(a.replace(/\\/g, '/'))];
      } catch {
        return [];
      }
    });
  const chosen = all.filter((f) => patterns.some((p) => p.test(join(__dirname, f))));
  return chosen.length ? chosen : all;
}

export class FigureSheet {
  private readonly counts = zero();
  readonly file: string;

  constructor(testFile: string) {
    this.file = basename(testFile);
  }

  add(key: FigureKey, n = 1): void {
    this.counts[key] += n;
  }

  get(key: FigureKey): number {
    return this.counts[key];
  }

  /** The must-be-0 figures of this file that are not 0 (for the file's own last test). */
  nonZero(): string[] {
    return FIGURES.filter((f) => f.mustBeZero && this.counts[f.key] !== 0).map(
      (f) => `${f.label}: ${this.counts[f.key]}`,
    );
  }

  /** afterAll: record this file; the file that completes the run prints the table. */
  flush(): void {
    const path = join(tmpdir(), `aegis-chaos-figures-${runKey()}.json`);
    appendFileSync(path, `${JSON.stringify({ file: this.file, counts: this.counts } satisfies SheetLine)}\n`);
    const lines = readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SheetLine);
    const done = new Set(lines.map((l) => l.file));
    if (!expectedFiles().every((f) => done.has(f))) return;
    // Two files finishing together both see the set complete: the one that creates the marker prints.
    const marker = `${path}.printed`;
    if (existsSync(marker)) return;
    try {
      closeSync(openSync(marker, 'wx'));
    } catch {
      return;
    }
    console.log(renderTable(lines));
    rmSync(path, { force: true });
    removeStale(marker);
    const bad = FIGURES.filter((f) => f.mustBeZero && lines.some((l) => l.counts[f.key] !== 0));
    if (bad.length) throw new Error(`chaos figures that must be 0 are not: ${bad.map((f) => f.label).join(', ')}`);
  }
}

/** Figures and markers of runs over an hour old (this run's marker stays: a file ending now must see it). */
function removeStale(keep: string): void {
  for (const f of readdirSync(tmpdir())) {
    const p = join(tmpdir(), f);
    if (!/^aegis-chaos-figures-[\d-]+\.json(\.printed)?$/.test(f) || p === keep) continue;
    const st = statSync(p, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 3_600_000) rmSync(p, { force: true });
  }
}

export function renderTable(lines: SheetLine[]): string {
  const files = [...new Set(lines.map((l) => l.file))].sort();
  const sum = (file: string | null, key: FigureKey) =>
    lines.filter((l) => file === null || l.file === file).reduce((a, l) => a + l.counts[key], 0);
  const cols = [...files.map((f) => f.replace(/\.test\.ts$/, '')), 'total'];
  const first = Math.max(...FIGURES.map((f) => f.label.length), 'chaos figures'.length) + 2;
  const widths = cols.map((c) => Math.max(c.length, 6) + 2);
  const row = (label: string, cells: string[], note = '') =>
    label.padEnd(first) + cells.map((c, i) => c.padStart(widths[i] ?? 8)).join('') + note;
  const out = [row('chaos figures', cols, '  check')];
  out.push('-'.repeat(out[0]?.length ?? 40));
  for (const f of FIGURES) {
    const cells = [...files.map((file) => String(sum(file, f.key))), String(sum(null, f.key))];
    const verdict = f.mustBeZero ? (sum(null, f.key) === 0 ? '  must be 0: ok' : '  must be 0: FAILED') : '';
    out.push(row(f.label, cells, verdict));
  }
  return out.join('\n');
}
