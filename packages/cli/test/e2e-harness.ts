import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// Relative: the CLI package has no workspace dependency on the testkit (adding one needs an install).
import { freePort, startStack, type Stack } from '@aegis/testkit';
import { CloudProbe, seeded, startSandbox, type SandboxProcess, type Seeded } from './e2e-cloud';
import { runCli, type CliRun } from './run-cli';

/**
 * One stack for a test file: gateway, tier workers and snapshot service as separate processes
 * (testkit startStack) on a private Redis, the cloud being the aws-sandbox as a process of its
 * own (the stack runs with AEGIS_CLOUD=aws and AWS_ENDPOINT_URL), so a test can stop the stack and
 * still reach the cloud. A second token, read-only, comes from an AEGIS_API_TOKENS_FILE.
 */
export interface E2E {
  work: string;
  sandbox: SandboxProcess;
  seed: Seeded;
  probe: CloudProbe;
  readToken: string;
  stack: Stack | undefined;
  /** The running stack; throws once a test has stopped it. */
  live(): Stack;
  /** `./aegis ARGS` against the stack (while it runs), stdin not a terminal, cwd the scratch folder. */
  aegis(args: string[], env?: Record<string, string>, input?: string): Promise<CliRun>;
}

export function useE2E(): E2E {
  const e = { readToken: `reader-${randomBytes(12).toString('hex')}`, stack: undefined } as E2E;
  e.live = () => {
    if (!e.stack) throw new Error('the stack is not running');
    return e.stack;
  };
  e.aegis = (args, env = {}, input) => {
    const base = e.stack ? { AEGIS_API_URL: e.stack.apiUrl, AEGIS_API_TOKEN: e.stack.token } : {};
    return runCli(args, { ...base, ...env }, { cwd: e.work, ...(input === undefined ? {} : { input }) });
  };

  beforeAll(async () => {
    e.work = mkdtempSync(join(tmpdir(), 'aegis-cli-e2e-'));
    e.sandbox = await startSandbox(await freePort());
    e.seed = await seeded(e.sandbox.url);
    e.probe = new CloudProbe(e.sandbox.port, e.seed.account_id, e.seed.region);
    const tokens = join(e.work, 'tokens.json');
    const digest = createHash('sha256').update(e.readToken).digest('hex');
    writeFileSync(tokens, JSON.stringify([{ name: 'reader', sha256: digest, scopes: ['remediation:read'] }]));
    e.stack = await startStack({
      env: {
        AEGIS_CLOUD: 'aws',
        AWS_ENDPOINT_URL: e.sandbox.url,
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_REGION: e.seed.region,
        AEGIS_API_TOKENS_FILE: tokens,
      },
    });
  }, 180_000);

  afterAll(async () => {
    await e.stack?.stop();
    e.probe?.destroy();
    await e.sandbox?.stop();
    if (e.work) rmSync(e.work, { recursive: true, force: true });
  });
  return e;
}

/** Checks the exit code, showing the run's output when it is not the expected one. */
export function expectExit(r: CliRun, code: number): void {
  if (r.code !== code) throw new Error(`exit ${r.code}, expected ${code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
}

/** stdout under --json: exactly one JSON document. */
export function parsed<T>(r: CliRun): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** The parts of the API's answers the assertions read. */
export interface Status {
  batch_id: string;
  status: string;
  completed: number;
  failed: number;
  pending: number;
  rollback_status: string;
  items: { finding_id: string; handler: string; state: string; snapshot_id: string | null; error: string | null }[];
  rollbacks: { snapshot_id: string; state: string }[];
}

export interface SnapshotRow {
  snapshot_id: string;
  handler: string;
  resource_id: string;
}
