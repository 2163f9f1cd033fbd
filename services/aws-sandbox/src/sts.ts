import type { ServiceHandler } from './context';
import { ACCOUNT_ID, AwsError, queryError, queryParams, queryResult } from './wire';

const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** STS GetCallerIdentity: any credentials are accepted; keys the sandbox issued map to their user. */
export const sts: ServiceHandler = {
  service: 'sts',
  operation: (req) => queryParams(req).get('Action') ?? 'Unknown',
  handle(req, ctx) {
    const action = queryParams(req).get('Action');
    if (action !== 'GetCallerIdentity') {
      throw new AwsError('InvalidAction', `Could not find operation ${action ?? ''} for version 2011-06-15`);
    }
    const owner = req.accessKeyId ? ctx.state.findAccessKey(req.accessKeyId)?.user : undefined;
    const result = owner
      ? { UserId: owner.userId, Account: ACCOUNT_ID, Arn: owner.arn }
      : { UserId: ACCOUNT_ID, Account: ACCOUNT_ID, Arn: `arn:aws:iam::${ACCOUNT_ID}:root` };
    return queryResult('GetCallerIdentity', STS_NS, result, req.requestId);
  },
  error: (err, req) => queryError(err, STS_NS, req.requestId),
  throttled: () => new AwsError('Throttling', 'Rate exceeded', 400),
};
