import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../../packages/testkit/src';

/** A TypeScript process the bench started, kept until `stop()`. */
export interface Child {
  pid: number;
  /** Every line it printed (stdout and stderr). */
  lines: string[];
  /** When it printed its ready line (ms since the epoch). */
  readyAt: number;
  spawnedAt: number;
  stop(): Promise<void>;
}

const live = new Set<Child>();

/** Stops every child still running (a run interrupted by a signal leaves none behind). */
export async function stopAllChildren(): Promise<void> {
  await Promise.allSettled([...live].map((c) => c.stop()));
}

/**
 * Runs `script` (relative to the repository root) under tsx, as the launcher runs services, and
 * waits for a line containing `readyText`; bounded by `timeoutMs`.
 */
export async function spawnTs(
  script: string,
  env: Record<string, string>,
  readyText: string,
  opts: { nodeArgs?: string[]; timeoutMs?: number } = {},
): Promise<Child> {
  const spawnedAt = Date.now();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), '--import', 'tsx', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const lines: string[] = [];
  let onReady: (at: number) => void = () => undefined;
  const ready = new Promise<number>((r) => (onReady = r));
  for (const s of [child.stdout, child.stderr]) {
    createInterface({ input: s }).on('line', (l) => {
      lines.push(l);
      if (l.includes(readyText)) onReady(Date.now());
    });
  }
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    live.delete(handle);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 40_000);
    await exited;
    clearTimeout(t);
  };
  const handle: Child = { pid: child.pid ?? 0, lines, readyAt: 0, spawnedAt, stop };
  live.add(handle);
  let timer: NodeJS.Timeout | undefined;
  try {
    const readyAt = await Promise.race([
      ready,
      exited.then(() => {
        throw new Error(`${script} exited at start:\n${lines.slice(-20).join('\n')}`);
      }),
      new Promise<never>((_, rej) => {
        timer = setTimeout(
          () => rej(new Error(`${script} not ready within ${(opts.timeoutMs ?? 120_000) / 1000} s`)),
          opts.timeoutMs ?? 120_000,
        );
      }),
    ]);
    handle.readyAt = readyAt;
    return handle;
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
