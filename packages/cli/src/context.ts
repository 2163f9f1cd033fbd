import type { Command } from 'commander';
import { z } from 'zod';
import { ApiClient } from './api-client';
import { CliError, ExitCode } from './errors';
import { localStackFile, readLocalStack, type LocalStack } from './local-stack';

export const DEFAULT_API_URL = 'http://127.0.0.1:8080';

/** The environment the CLI reads, parsed once (DESIGN.md: AEGIS_API_URL, AEGIS_API_TOKEN or API_TOKEN). */
const CliEnv = z.object({
  AEGIS_API_URL: z.string().optional(),
  AEGIS_API_TOKEN: z.string().optional(),
  API_TOKEN: z.string().optional(),
});

interface GlobalOptions {
  apiUrl?: string;
  token?: string;
  json?: boolean;
}

/** What every command gets: the API client, the output mode, and the terminal it talks to. */
export interface Context {
  readonly json: boolean;
  api(): ApiClient;
  /** Human output: lines on stdout. Suppressed under --json so stdout stays one JSON document. */
  print(lines: string | readonly string[]): void;
  /** Machine output: the one JSON document stdout carries under --json. */
  printJson(value: unknown): void;
  /** Progress and notes for humans: always stderr, so stdout stays clean for pipes. */
  note(line: string): void;
  /** stdin is a terminal someone can answer a question on. */
  readonly interactive: boolean;
  /** stdout is a terminal (live progress bars and default --watch). */
  readonly stdoutTty: boolean;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function checkUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new CliError(
      `invalid API URL "${url}" (--api-url / AEGIS_API_URL): expected e.g. ${DEFAULT_API_URL}`,
      ExitCode.usage,
    );
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new CliError(`invalid API URL "${url}": only http:// and https:// are supported`, ExitCode.usage);
  }
  return url.replace(/\/+$/, '');
}

export interface Endpoint {
  apiUrl: string;
  token: string | undefined;
}

/**
 * Where to send requests and with which token: flags, then the environment, then the stack
 * `pnpm start` runs on this machine, then the default URL. The local stack's dev token is used
 * only for the local stack's own URL, so it never travels to another gateway.
 */
export function resolveEndpoint(
  flags: { apiUrl?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
  local: () => LocalStack | undefined = () => readLocalStack(localStackFile(env)),
): Endpoint {
  const e = CliEnv.parse(env);
  const explicitUrl = nonEmpty(flags.apiUrl) ?? nonEmpty(e.AEGIS_API_URL);
  const explicitToken = nonEmpty(flags.token) ?? nonEmpty(e.AEGIS_API_TOKEN) ?? nonEmpty(e.API_TOKEN);
  const apiUrl = checkUrl(explicitUrl ?? local()?.api_url ?? DEFAULT_API_URL);
  if (explicitToken) return { apiUrl, token: explicitToken };
  const stack = local();
  const sameStack = stack && checkUrl(stack.api_url) === apiUrl;
  return { apiUrl, token: sameStack ? stack.token : undefined };
}

function write(stream: NodeJS.WriteStream, lines: string | readonly string[]): void {
  const list = typeof lines === 'string' ? [lines] : lines;
  if (list.length) stream.write(`${list.join('\n')}\n`);
}

/** The context of the command being run, from its options and the program's global ones. */
export function contextOf(cmd: Command): Context {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const json = g.json === true;
  let client: ApiClient | undefined;
  return {
    json,
    // Resolved lazily: commands that never call the API (iam-policy, rollback --from-file) must not
    // fail on a bad AEGIS_API_URL.
    api() {
      client ??= new ApiClient(resolveEndpoint(g));
      return client;
    },
    print(lines) {
      if (!json) write(process.stdout, lines);
    },
    printJson(value) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    note(line) {
      write(process.stderr, line);
    },
    interactive: process.stdin.isTTY === true,
    stdoutTty: process.stdout.isTTY === true,
  };
}

/** Split `a,b , c` (and repeated flags) into ids, refusing an empty list. */
export function parseIdList(values: readonly string[] | string, flag: string): string[] {
  const list = (typeof values === 'string' ? [values] : values)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  if (!list.length) throw new CliError(`${flag} needs at least one id`, ExitCode.usage);
  return [...new Set(list)];
}
