import { Option, type Command } from 'commander';
import { createDefaultRegistry } from '@aegis/handlers';
import { contextOf, parseIdList } from '../context';
import { CliError, ExitCode } from '../errors';
import { DEFAULT_SNAPSHOT_BUCKET, IAM_ROLES, buildIamPolicy, type IamRole } from '../iam-policy';

interface PolicyFlags {
  role: IamRole;
  bucket: string;
  handlers?: string[];
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function registerIamPolicy(program: Command): void {
  program
    .command('iam-policy')
    .summary('print the least-privilege IAM policy for the worker or snapshot role')
    .description(
      'Prints an IAM policy document (JSON) built from the handler registry, no API call needed:\n' +
        '  worker    every action the handlers call, one statement per handler; no snapshot bucket access\n' +
        '  snapshot  the same actions (it inspects and rolls back) plus s3:ListBucket, s3:GetObject and\n' +
        '            s3:PutObject on the snapshot bucket',
    )
    .addOption(new Option('--role <role>', 'which role').choices(IAM_ROLES).default('worker'))
    .option('--bucket <name>', 'snapshot bucket (snapshot role)', DEFAULT_SNAPSHOT_BUCKET)
    .option(
      '--handlers <names>',
      'only these handlers, comma-separated (for a deployment that runs only some)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ aegis iam-policy > worker-policy.json\n  $ aegis iam-policy --role snapshot --bucket acme-aegis-snapshots',
    )
    .action((opts: PolicyFlags, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!BUCKET_NAME.test(opts.bucket)) {
        throw new CliError(`--bucket "${opts.bucket}" is not an S3 bucket name`, ExitCode.usage);
      }
      const registry = createDefaultRegistry();
      const names = opts.handlers ? parseIdList(opts.handlers, '--handlers') : undefined;
      const unknown = names?.filter((n) => !registry.has(n)) ?? [];
      if (unknown.length) {
        throw new CliError(`unknown handler(s): ${unknown.join(', ')}`, ExitCode.usage, [
          `known: ${registry
            .all()
            .map((h) => h.name)
            .join(', ')}`,
        ]);
      }
      const handlers = names ? names.map((n) => registry.get(n)) : registry.all();
      // The document itself is the output, for humans and scripts alike (pipe it to a file or aws iam).
      ctx.printJson(buildIamPolicy(handlers, { role: opts.role, bucket: opts.bucket }));
    });
}
