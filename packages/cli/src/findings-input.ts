import { FindingInput } from '@aegis/core';
import { CliError, ExitCode } from './errors';

/** Where a finding came from, for error messages: "line 3" (NDJSON) or "finding 3" (JSON). */
interface Located {
  value: unknown;
  where: string;
}

/** How many problems to list before "and N more": enough to fix a file, not a screenful per line. */
const MAX_PROBLEMS = 20;

/**
 * The findings in a scanner export: `{findings:[...]}`, a JSON array, one JSON object, or NDJSON
 * (one finding per line). Every finding is checked against the API's schema before anything is
 * sent, so a bad line 9000 does not leave the first 8999 half-imported.
 */
export function parseFindings(text: string, source: string): FindingInput[] {
  if (!text.trim()) throw new CliError(`no findings in ${source}: it is empty`, ExitCode.usage);
  const located = locate(text, source);
  if (!located.length) throw new CliError(`no findings in ${source}`, ExitCode.usage);
  const problems: string[] = [];
  const findings: FindingInput[] = [];
  for (const { value, where } of located) {
    const r = FindingInput.safeParse(value);
    if (r.success) {
      findings.push(r.data);
      continue;
    }
    const id = value && typeof value === 'object' && 'id' in value ? ` (id ${String(value.id)})` : '';
    for (const i of r.error.issues) problems.push(`${where}${id}: ${i.path.join('.') || '(finding)'}: ${i.message}`);
  }
  if (problems.length) {
    const shown = problems.slice(0, MAX_PROBLEMS);
    if (problems.length > MAX_PROBLEMS) shown.push(`… and ${problems.length - MAX_PROBLEMS} more`);
    throw new CliError(`invalid findings in ${source}; nothing was imported`, ExitCode.usage, shown);
  }
  return findings;
}

function locate(text: string, source: string): Located[] {
  let whole: unknown;
  try {
    whole = JSON.parse(text) as unknown;
  } catch {
    return parseNdjson(text, source);
  }
  if (Array.isArray(whole)) return whole.map((value, i) => ({ value, where: `finding ${i + 1}` }));
  if (whole && typeof whole === 'object') {
    const list = (whole as Record<string, unknown>).findings;
    if (Array.isArray(list)) return list.map((value, i) => ({ value, where: `findings[${i}]` }));
    if ('findings' in whole) throw new CliError(`${source}: "findings" must be an array`, ExitCode.usage);
    return [{ value: whole, where: 'finding 1' }];
  }
  throw new CliError(
    `${source} is JSON but not findings: expected {"findings":[...]}, an array, or one finding per line`,
    ExitCode.usage,
  );
}

function parseNdjson(text: string, source: string): Located[] {
  const out: Located[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push({ value: JSON.parse(line) as unknown, where: `line ${i + 1}` });
    } catch (err) {
      problems.push(`line ${i + 1}: not JSON (${err instanceof Error ? err.message : String(err)})`);
    }
  });
  if (problems.length) {
    throw new CliError(
      `${source} is neither JSON nor NDJSON (one JSON finding per line)`,
      ExitCode.usage,
      problems.slice(0, MAX_PROBLEMS),
    );
  }
  return out;
}

/** Consecutive slices of at most `size` items. */
export function chunk<T>(list: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`chunk size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}
