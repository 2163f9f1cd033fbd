import { CommanderError } from 'commander';

/** The CLI's exit codes: documented in `aegis --help` and docs/cli.md, so scripts can rely on them. */
export const ExitCode = {
  ok: 0,
  /** A remediation or rollback ran and some of it failed (or the batch was stopped). */
  failures: 1,
  /** Bad command line, bad input file, or the API refused the request as invalid (400/404/415/422). */
  usage: 2,
  /** The API rejected the token (401) or the token lacks a scope (403). */
  auth: 3,
  /** The API could not be reached (connection refused, DNS, timeout) or answered 5xx. */
  unreachable: 4,
  /** Refused: no --yes without a terminal, answered no, conflict (409), drift without --force. */
  refused: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  the remediation or rollback ran and something failed (or the batch was stopped)
  2  usage or validation error (bad options, bad input file, API answered 400/404/415/422)
  3  authentication error (401: missing or wrong token, 403: token lacks a scope)
  4  cannot reach the API (connection refused, DNS, timeout) or it answered 5xx
  5  refused (no --yes without a terminal, confirmation declined, 409 conflict, drift without --force)`;

/** A failure the CLI reports itself: a message for stderr and the exit code it maps to. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** Extra lines printed under the message (validation details, hints). */
    readonly lines: readonly string[] = [],
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The API's error body, `{"error":{"code","message","details"?}}`, parsed leniently. */
export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}

/** A non-2xx answer from the API. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    readonly url: string,
  ) {
    super(body.message);
    this.name = 'ApiError';
  }
}

/** The API could not be reached at all. */
export class UnreachableError extends Error {
  constructor(
    readonly apiUrl: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Aegis API at ${apiUrl}: ${reason}`);
    this.name = 'UnreachableError';
  }
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 401 || status === 403) return ExitCode.auth;
  if (status === 409 || status === 429) return ExitCode.refused;
  if (status >= 500) return ExitCode.unreachable;
  if (status >= 400) return ExitCode.usage;
  return ExitCode.ok;
}

export function exitCodeFor(err: unknown): ExitCode {
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof ApiError) return exitCodeForStatus(err.status);
  if (err instanceof UnreachableError) return ExitCode.unreachable;
  if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  return ExitCode.failures;
}

/**
 * One line per problem, whatever shape the API gave its `details`: a list of issues
 * (`[{field|path, message}]`), an object holding such lists (`{findings:[{id, message}]}`), or
 * plain `key: value` facts.
 */
export function describeDetails(details: unknown): string[] {
  if (details === undefined || details === null) return [];
  if (Array.isArray(details)) return details.flatMap((d) => describeIssue(d));
  if (typeof details === 'object') {
    return Object.entries(details as Record<string, unknown>).flatMap(([k, v]) =>
      Array.isArray(v) && v.length && v.every((x) => x && typeof x === 'object')
        ? describeDetails(v)
        : [`${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`],
    );
  }
  return [String(details)];
}

function describeIssue(issue: unknown): string[] {
  if (issue && typeof issue === 'object') {
    const i = issue as Record<string, unknown>;
    const where = i.path ?? i.field ?? i.id ?? i.snapshot_id ?? i.finding_id ?? i.name;
    const place = Array.isArray(where) ? where.join('.') : typeof where === 'string' ? where : '';
    // An issue without a message is a record of facts: show them as key=value, not as JSON.
    const facts = Object.entries(i)
      .filter(([, v]) => v !== where && v !== null && v !== undefined)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    const msg = typeof i.message === 'string' ? i.message : facts;
    return [place ? `${place}: ${msg}` : msg];
  }
  return [String(issue)];
}

/** What the user reads on stderr for a failure: a headline and the lines under it. */
export function renderError(err: unknown): string[] {
  if (err instanceof CliError) return [err.message, ...err.lines.map((l) => `  ${l}`)];
  if (err instanceof UnreachableError) return [err.message];
  if (err instanceof ApiError) return renderApiError(err);
  if (err instanceof Error) return [err.message];
  return [String(err)];
}

function renderApiError(err: ApiError): string[] {
  const { status, body } = err;
  const details = describeDetails(body.details).map((l) => `  - ${l}`);
  if (status === 401) {
    return [
      `unauthorized (401): ${body.message}`,
      '  the API token is missing or wrong: pass --token or set AEGIS_API_TOKEN (or API_TOKEN)',
    ];
  }
  if (status === 403) {
    const scope = missingScope(body.details);
    const head = scope
      ? `forbidden (403): the token lacks the "${scope}" scope — ${body.message}`
      : `forbidden (403): ${body.message}`;
    return [head];
  }
  return [`${body.message} (${status} ${body.code})`, ...details];
}

function missingScope(details: unknown): string | undefined {
  if (details && typeof details === 'object' && !Array.isArray(details)) {
    const v = (details as Record<string, unknown>).missing_scope;
    if (typeof v === 'string') return v;
  }
  return undefined;
}
