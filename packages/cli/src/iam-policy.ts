import type { Handler } from '@aegis/handlers';

export const IAM_ROLES = ['worker', 'snapshot'] as const;
export type IamRole = (typeof IAM_ROLES)[number];

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

export interface PolicyOptions {
  role: IamRole;
  /** The snapshot bucket the snapshot role reads and writes (snapshot role only). */
  bucket: string;
}

export const DEFAULT_SNAPSHOT_BUCKET = 'aegis-snapshots';

/** `block-public-ssh` -> `BlockPublicSsh`: statement ids allow only letters and digits. */
export function sidFor(name: string): string {
  return name
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w[0]?.toUpperCase() + w.slice(1))
    .join('');
}

/**
 * The least-privilege policy for one role, built from what the handlers declare they call.
 * One statement per handler, so an operator who runs only some handlers can see which actions
 * to drop. Handler actions are on `*`: security groups, instances, users and detectors are
 * found by id at run time. The workers never get the snapshot bucket (DESIGN.md: only the
 * snapshot service writes snapshots); the snapshot service gets the handler actions too, because
 * it inspects resources and runs the rollbacks.
 */
export function buildIamPolicy(handlers: readonly Handler[], opts: PolicyOptions): PolicyDocument {
  const statements: PolicyStatement[] = [...handlers]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((h) => ({
      Sid: sidFor(h.name),
      Effect: 'Allow',
      Action: [...new Set(h.iamActions)].sort(),
      Resource: '*',
    }));
  if (opts.role === 'snapshot') {
    const bucketArn = `arn:aws:s3:::${opts.bucket}`;
    statements.push(
      { Sid: 'SnapshotBucketList', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn },
      {
        Sid: 'SnapshotObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: `${bucketArn}/*`,
      },
    );
  }
  return { Version: '2012-10-17', Statement: statements };
}

/** Every action a policy allows, for checks and for a compact summary. */
export function policyActions(policy: PolicyDocument): string[] {
  return [...new Set(policy.Statement.flatMap((s) => s.Action))].sort();
}
