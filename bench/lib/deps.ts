/**
 * Third-party modules the bench shares with the dispatcher. The repository root declares no
 * runtime dependencies, so they come from the workspace packages that use them: the bench runs the
 * very versions the dispatcher runs, and adds nothing to the lockfile.
 */
import { createRequire } from 'node:module';
import type expressModule from '../../services/api-gateway/node_modules/@types/express/index';

export { Queue, Worker, type Job } from '../../packages/dispatch/node_modules/bullmq';
export { Redis } from '../../packages/testkit/node_modules/ioredis';
export {
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
} from '../../packages/handlers/node_modules/@aws-sdk/client-ec2';

/** express 5 as the gateway has it (its types from the gateway's own @types/express). */
export const express = createRequire(require.resolve('../../services/api-gateway/package.json'))(
  'express',
) as typeof expressModule;
