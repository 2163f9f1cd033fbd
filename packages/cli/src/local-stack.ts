import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';

/**
 * How `./aegis` finds the stack `pnpm start` runs on this machine without AEGIS_API_URL or a token
 * (the runbook's `./aegis remediate … --dry-run` line has neither). `pnpm start` publishes its
 * gateway URL and dev token here and removes the file when it stops; the CLI ignores the file
 * once that process is gone. One definition of the format for the writer and the reader.
 */
export const DEFAULT_LOCAL_STACK_FILE = join(__dirname, '..', '..', '..', '.aegis', 'local-stack.json');

export const LocalStack = z.object({
  api_url: z.string().url(),
  /** The dev token (all scopes) of the local stack; sent only to `api_url`. */
  token: z.string().min(1).optional(),
  /** The `pnpm start` process: a file whose process is gone is stale. */
  pid: z.number().int().positive(),
});
export type LocalStack = z.infer<typeof LocalStack>;

/** `AEGIS_LOCAL_STACK_FILE` moves the file (tests, several checkouts sharing a home). */
export function localStackFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.AEGIS_LOCAL_STACK_FILE?.trim() || DEFAULT_LOCAL_STACK_FILE;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else; still a running stack.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** For `pnpm start`: publish the stack, readable by its owner only (it holds a token). */
export function writeLocalStack(info: LocalStack, file = localStackFile()): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(LocalStack.parse(info))}\n`, { mode: 0o600 });
  // Rename, so a CLI reading at the same moment sees the old file or the new one, never half.
  renameSync(tmp, file);
}

/** For `pnpm start` on exit: remove the file if it still describes this process. */
export function removeLocalStack(pid: number, file = localStackFile()): void {
  if (readLocalStack(file, () => true)?.pid === pid) rmSync(file, { force: true });
}

/** The running local stack, or undefined (no file, unreadable, or its process is gone). */
export function readLocalStack(
  file = localStackFile(),
  isAlive: (pid: number) => boolean = alive,
): LocalStack | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  const r = LocalStack.safeParse(doc);
  if (!r.success || !isAlive(r.data.pid)) return undefined;
  return r.data;
}
