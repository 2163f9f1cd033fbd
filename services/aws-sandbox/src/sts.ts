import type { ServiceHandler } from './context';
import { AwsError, queryError, queryParams, queryResult } from './wire';

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/**
 * STS GetCallerIdentity and AssumeRole. The caller's account is the account of its credentials:
 * a role session answers as its assumed role, a key the sandbox's IAM issued as its user, any other
 * credentials as the default account's root.
 */
export const sts: ServiceHandler = {
  service: 'sts',
  operation: (req) => queryParams(req).get('Action') ?? 'Unknown',
  handle(req, ctx) {
    const p = queryParams(req);
    const action = p.get('Action');
    const account = ctx.state.accountId;
    if (action === 'GetCallerIdentity') {
      const session = ctx.accounts.session(req.accessKeyId);
      const owner = req.accessKeyId ? ctx.state.findAccessKey(req.accessKeyId)?.user : undefined;
      const result = session
        ? {
            UserId: `${session.roleId}:${session.sessionName}`,
            Account: account,
            Arn: assumedRoleArn(session.roleArn, session.sessionName),
          }
        : owner
          ? { UserId: owner.userId, Account: account, Arn: owner.arn }
          : { UserId: account, Account: account, Arn: `arn:aws:iam::${account}:root` };
      return queryResult('GetCallerIdentity', STS_NS, result, req.requestId);
    }
    if (action === 'AssumeRole') {
      const roleArn = p.get('RoleArn');
      const sessionName = p.get('RoleSessionName');
      if (!roleArn || !sessionName) throw new AwsError('MissingParameter', 'RoleArn and RoleSessionName are required');
      const s = ctx.accounts.assumeRole(roleArn, sessionName, Number(p.get('DurationSeconds') ?? 3600), ctx.now());
      return queryResult(
        'AssumeRole',
        STS_NS,
        {
          Credentials: {
            AccessKeyId: s.accessKeyId,
            SecretAccessKey: s.secretAccessKey,
            SessionToken: s.sessionToken,
            Expiration: new Date(s.expiresAt).toISOString(),
          },
          AssumedRoleUser: {
            AssumedRoleId: `${s.roleId}:${s.sessionName}`,
            Arn: assumedRoleArn(s.roleArn, s.sessionName),
          },
        },
        req.requestId,
      );
    }
    throw new AwsError('InvalidAction', `Could not find operation ${action ?? ''} for version 2011-06-15`);
  },
  error: (err, req) => queryError(err, STS_NS, req.requestId),
  throttled: () => new AwsError('Throttling', 'Rate exceeded', 400),
};

function assumedRoleArn(roleArn: string, sessionName: string): string {
  const m = /^arn:aws:iam::(\d{12}):role\/(?:.*\/)?([^/]+)$/.exec(roleArn);
  return `arn:aws:sts::${m?.[1] ?? ''}:assumed-role/${m?.[2] ?? ''}/${sessionName}`;
}
