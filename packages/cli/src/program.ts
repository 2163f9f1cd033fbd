import { Command, Option } from 'commander';
import { version } from '../package.json';
import { registerFindings } from './commands/findings';
import { registerHandlers } from './commands/handlers';
import { registerIamPolicy } from './commands/iam-policy';
import { registerRemediate } from './commands/remediate';
import { registerReport } from './commands/report';
import { registerResume } from './commands/resume';
import { registerRollback } from './commands/rollback';
import { registerSnapshots } from './commands/snapshots';
import { registerStatus } from './commands/status';
import { registerStop } from './commands/stop';
import { registerStopped } from './commands/stopped';
import { DEFAULT_API_URL } from './context';
import { EXIT_CODE_HELP } from './errors';

const ENV_HELP = `Environment:
  AEGIS_API_URL    the gateway; --api-url wins. Unset: the stack \`pnpm start\` runs in this
                   checkout (URL and dev token from .aegis/local-stack.json), else ${DEFAULT_API_URL}
  AEGIS_API_TOKEN  bearer token (or API_TOKEN); --token wins
  AEGIS_CLOUD, AEGIS_SANDBOX_PORT, AWS_ENDPOINT_URL, AWS_*
                   the cloud reached by \`rollback --from-file\` (no dispatcher involved)`;

const EXAMPLES = `Typical run:
  $ aegis findings import scan.json
  $ aegis remediate --finding-ids f-abc123,f-def456 --dry-run
  $ aegis remediate --finding-ids f-abc123,f-def456 --change-ticket CHG-1234
  $ aegis snapshots batch-20260226-001
  $ aegis rollback batch-20260226-001 --snapshot snap-001 --dry-run`;

/** The whole command line: global options, every command, help that lists exit codes. */
export function buildProgram(): Command {
  const program = new Command('aegis');
  program
    .description(
      'Cloud Aegis remediation dispatcher: preview and execute fixes for security findings, follow batches, ' +
        'roll changes back from their snapshots (48 h), and pause everything in an emergency.',
    )
    .addOption(new Option('--api-url <url>', 'Aegis API base URL (env AEGIS_API_URL; default: see Environment)'))
    .addOption(new Option('--token <token>', 'API bearer token (env AEGIS_API_TOKEN or API_TOKEN)'))
    .option('--json', 'machine-readable output: only JSON on stdout, messages on stderr')
    .version(version, '-V, --version', 'print the CLI version')
    .helpOption('-h, --help', 'show help (also: aegis <command> --help)')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    // Commander's own errors (unknown option, missing argument) are usage errors: exit 2, not 1.
    .exitOverride()
    .addHelpText('after', `\n${ENV_HELP}\n\n${EXIT_CODE_HELP}\n\n${EXAMPLES}\n\nDocs: docs/cli.md`);

  registerRemediate(program);
  registerStatus(program);
  registerSnapshots(program);
  registerRollback(program);
  registerStop(program);
  registerResume(program);
  registerStopped(program);
  registerReport(program);
  registerFindings(program);
  registerHandlers(program);
  registerIamPolicy(program);
  return program;
}
