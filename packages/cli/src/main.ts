import { CommanderError } from 'commander';
import { ExitCode, exitCodeFor, renderError } from './errors';
import { buildProgram } from './program';

/** Exit only once stdout has taken everything: a piped `--json` must never be cut short. */
async function exit(code: number): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

async function main(argv: string[]): Promise<never> {
  // The SDK warns on every Node below 22 about releases of 2027; the project supports Node 20
  // (package.json engines), and the warning would bury the CLI's own messages on stderr.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return await exit(typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok);
  } catch (err) {
    // Commander has already printed its own message (and help for `--help`).
    if (!(err instanceof CommanderError)) {
      process.stderr.write(
        `${renderError(err)
          .map((l, i) => (i === 0 ? `aegis: error: ${l}` : l))
          .join('\n')}\n`,
      );
    }
    return exit(exitCodeFor(err));
  }
}

void main(process.argv);
