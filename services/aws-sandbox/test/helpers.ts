import { EC2Client } from '@aws-sdk/client-ec2';
import { GuardDutyClient } from '@aws-sdk/client-guardduty';
import { IAMClient } from '@aws-sdk/client-iam';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { STSClient } from '@aws-sdk/client-sts';
import { type SandboxHandle, type SandboxOptions, startSandbox } from '../src';

/** SDK clients configured as packages/handlers/src/clients.ts configures them for the sandbox. */
export function clients(url: string, region = 'us-east-1', maxAttempts = 1) {
  const cfg = {
    region,
    endpoint: url,
    maxAttempts,
    credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
  };
  return {
    ec2: new EC2Client(cfg),
    s3: new S3Client({ ...cfg, forcePathStyle: true }),
    iam: new IAMClient(cfg),
    guardduty: new GuardDutyClient(cfg),
    ssm: new SSMClient(cfg),
    sts: new STSClient(cfg),
  };
}

export type Clients = ReturnType<typeof clients>;

/** One sandbox per test file on a free port, torn down after. */
export function useSandbox(opts: SandboxOptions = {}): { sb: () => SandboxHandle; c: () => Clients } {
  let sb: SandboxHandle | undefined;
  let c: Clients | undefined;
  beforeAll(async () => {
    sb = await startSandbox({ port: 0, logLevel: 'silent', ...opts });
    c = clients(sb.url);
  });
  afterAll(async () => {
    if (c) for (const client of Object.values(c)) client.destroy();
    await sb?.close();
  });
  return {
    sb: () => {
      if (!sb) throw new Error('sandbox not started');
      return sb;
    },
    c: () => {
      if (!c) throw new Error('clients not made');
      return c;
    },
  };
}

/**
 * The AWS error an SDK call rejects with: `code` is the wire code (IAM's SDK calls `NoSuchEntity`
 * `NoSuchEntityException`, as it does against real AWS), `status` the HTTP status.
 */
export async function awsError(
  p: Promise<unknown>,
): Promise<{ name: string; code: string; status: number | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { name: string; Code?: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: err.name, code: err.Code ?? err.name, status: err.$metadata?.httpStatusCode, message: err.message };
  }
  throw new Error('expected the call to fail');
}
