import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The repository root, where the `./aegis` launcher lives. */
export const REPO_ROOT = join(__dirname, '..', '..', '..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the real `./aegis` launcher as a user would, stdin not a terminal. The caller's environment
 * is replaced, not merged, except for PATH and HOME, so a developer's AEGIS_* never leaks in.
 */
export function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  opts: { input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO_ROOT, 'aegis'), args, {
      cwd: opts.cwd ?? REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}
