import { createInterface } from 'node:readline/promises';
import { CliError, ExitCode } from './errors';

export interface ConfirmOptions {
  /** --yes was given: no question asked. */
  yes: boolean;
  /** stdin is a terminal. */
  interactive: boolean;
  /** What would happen, for the refusal message: "execute batch-… (2 changes)". */
  action: string;
}

/**
 * Asks before anything changes in the cloud. Without a terminal there is nobody to ask, so only
 * --yes lets a script through: a pipeline must say so explicitly rather than by accident.
 */
export async function confirm(question: string, opts: ConfirmOptions): Promise<void> {
  if (opts.yes) return;
  if (!opts.interactive) {
    throw new CliError(`refusing to ${opts.action} without confirmation: stdin is not a terminal`, ExitCode.refused, [
      'pass --yes to confirm non-interactively (nothing has been changed)',
    ]);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // Ctrl-D closes the input without an answer: that is a no, not a hang.
  const closed = new Promise<string>((resolve) => rl.once('close', () => resolve('')));
  try {
    const answer = (await Promise.race([rl.question(`${question} [y/N] `), closed])).trim().toLowerCase();
    if (answer === 'y' || answer === 'yes') return;
  } finally {
    rl.close();
  }
  throw new CliError('aborted: nothing has been changed', ExitCode.refused);
}
