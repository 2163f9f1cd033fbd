import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useSandbox } from './helpers';

const AWS = '/usr/bin/aws';
const { sb } = useSandbox({ seed: true, behaviour: { ssmCommandMs: 0 } });

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously: the sandbox lives in this process, so the event loop must stay free. */
function aws(...args: string[]): Promise<Run> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_PAGER: '',
    AWS_MAX_ATTEMPTS: '1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
  return new Promise((resolve) => {
    execFile(AWS, ['--endpoint-url', sb().url, '--output', 'json', ...args], { env }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function ok(...args: string[]): Promise<Record<string, unknown>> {
  const r = await aws(...args);
  if (r.code !== 0) throw new Error(`aws ${args.join(' ')} -> ${r.code}: ${r.stderr}`);
  return r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : {};
}

async function fails(code: string, ...args: string[]): Promise<void> {
  const r = await aws(...args);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`(${code})`);
}

const get = (o: unknown, ...path: (string | number)[]): unknown =>
  path.reduce<unknown>(
    (x, k) => (x === null || typeof x !== 'object' ? undefined : (x as Record<string | number, unknown>)[k]),
    o,
  );

// One CLI call per emulated operation (plus the XML error shapes of EC2, S3 and IAM): each call
// starts a Python process, so the list is kept short.
async function ec2Chain(): Promise<void> {
  const g = get(
    await ok('ec2', 'create-security-group', '--group-name', 'cli-sg', '--description', 'cli'),
    'GroupId',
  ) as string;
  expect(g).toMatch(/^sg-/);
  const perms = [
    'IpProtocol=tcp,FromPort=22,ToPort=22,IpRanges=[{CidrIp=0.0.0.0/0,Description=ssh},{CidrIp=10.0.0.0/8}]',
    'IpProtocol=tcp,FromPort=3389,ToPort=3389,Ipv6Ranges=[{CidrIpv6=::/0}]',
  ];
  await ok('ec2', 'authorize-security-group-ingress', '--group-id', g, '--ip-permissions', ...perms);
  await fails(
    'InvalidPermission.Duplicate',
    'ec2',
    'authorize-security-group-ingress',
    '--group-id',
    g,
    '--protocol',
    'tcp',
    '--port',
    '22',
    '--cidr',
    '0.0.0.0/0',
  );
  await ok(
    'ec2',
    'revoke-security-group-ingress',
    '--group-id',
    g,
    '--protocol',
    'tcp',
    '--port',
    '22',
    '--cidr',
    '0.0.0.0/0',
  );
  const d = await ok('ec2', 'describe-security-groups', '--filters', 'Name=group-name,Values=cli-sg');
  expect(get(d, 'SecurityGroups', 0, 'IpPermissions', 0, 'IpRanges')).toEqual([{ CidrIp: '10.0.0.0/8' }]);
  expect(get(d, 'SecurityGroups', 0, 'IpPermissions', 1, 'Ipv6Ranges')).toEqual([{ CidrIpv6: '::/0' }]);

  const run = await ok(
    'ec2',
    'run-instances',
    '--image-id',
    'ami-12c6146b',
    '--count',
    '1',
    '--instance-type',
    't3.micro',
  );
  const i = get(run, 'Instances', 0, 'InstanceId') as string;
  expect(i).toMatch(/^i-[0-9a-f]{17}$/);
  await ok('ec2', 'create-tags', '--resources', i, '--tags', 'Key=Name,Value=cli');
  const m = await ok(
    'ec2',
    'modify-instance-metadata-options',
    '--instance-id',
    i,
    '--http-tokens',
    'required',
    '--http-endpoint',
    'enabled',
  );
  expect(get(m, 'InstanceMetadataOptions', 'State')).toBe('pending');
  const di = await ok('ec2', 'describe-instances', '--instance-ids', i);
  expect(get(di, 'Reservations', 0, 'Instances', 0, 'MetadataOptions')).toMatchObject({
    HttpTokens: 'required',
    State: 'applied',
  });
  expect(get(di, 'Reservations', 0, 'Instances', 0, 'Tags')).toEqual([{ Key: 'Name', Value: 'cli' }]);
  const st = await ok('ec2', 'describe-instance-status', '--instance-ids', i);
  expect(get(st, 'InstanceStatuses', 0, 'InstanceState', 'Name')).toBe('running');
}

async function s3Chain(dir: string): Promise<void> {
  const b = 'cli-eu';
  await ok(
    's3api',
    'create-bucket',
    '--bucket',
    b,
    '--region',
    'eu-west-1',
    '--create-bucket-configuration',
    'LocationConstraint=eu-west-1',
  );
  expect(get(await ok('s3api', 'get-bucket-location', '--bucket', b), 'LocationConstraint')).toBe('eu-west-1');
  await ok('s3api', 'head-bucket', '--bucket', b);
  const names = (get(await ok('s3api', 'list-buckets'), 'Buckets') as { Name: string }[]).map((x) => x.Name);
  expect(names).toContain(b);
  const conf = 'BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true';
  await ok('s3api', 'put-public-access-block', '--bucket', b, '--public-access-block-configuration', conf);
  expect(
    get(
      await ok('s3api', 'get-public-access-block', '--bucket', b),
      'PublicAccessBlockConfiguration',
      'RestrictPublicBuckets',
    ),
  ).toBe(true);
  await ok('s3api', 'delete-public-access-block', '--bucket', b);
  await fails('NoSuchPublicAccessBlockConfiguration', 's3api', 'get-public-access-block', '--bucket', b);

  const file = join(dir, 'obj.txt');
  writeFileSync(file, 'hello from the cli\n');
  await ok('s3api', 'put-object', '--bucket', b, '--key', 'a/b.txt', '--body', file);
  expect((await aws('s3', 'cp', file, `s3://${b}/c/d e.txt`)).code).toBe(0);
  expect((await aws('s3', 'cp', `s3://${b}/c/d e.txt`, '-')).stdout).toBe('hello from the cli\n');
  expect(get(await ok('s3api', 'head-object', '--bucket', b, '--key', 'a/b.txt'), 'ContentLength')).toBe(19);
  const listed = get(await ok('s3api', 'list-objects-v2', '--bucket', b), 'Contents') as { Key: string }[];
  expect(listed.map((o) => o.Key)).toEqual(['a/b.txt', 'c/d e.txt']);
  await ok('s3api', 'delete-object', '--bucket', b, '--key', 'a/b.txt');
}

async function iamChain(): Promise<void> {
  await ok('iam', 'create-user', '--user-name', 'cli-user');
  expect(get(await ok('iam', 'get-user', '--user-name', 'cli-user'), 'User', 'Arn')).toBe(
    'arn:aws:iam::123456789012:user/cli-user',
  );
  const k = get(await ok('iam', 'create-access-key', '--user-name', 'cli-user'), 'AccessKey', 'AccessKeyId') as string;
  await ok('iam', 'update-access-key', '--user-name', 'cli-user', '--access-key-id', k, '--status', 'Inactive');
  expect(get(await ok('iam', 'list-access-keys', '--user-name', 'cli-user'), 'AccessKeyMetadata', 0, 'Status')).toBe(
    'Inactive',
  );
  expect(
    get(await ok('iam', 'get-access-key-last-used', '--access-key-id', k), 'AccessKeyLastUsed', 'ServiceName'),
  ).toBe('N/A');
  await ok('iam', 'delete-access-key', '--user-name', 'cli-user', '--access-key-id', k);
  await fails('NoSuchEntity', 'iam', 'list-access-keys', '--user-name', 'nobody');
}

async function guarddutyChain(): Promise<void> {
  const created = await ok(
    'guardduty',
    'create-detector',
    '--enable',
    '--finding-publishing-frequency',
    'FIFTEEN_MINUTES',
  );
  const d = get(created, 'DetectorId') as string;
  expect(get(await ok('guardduty', 'list-detectors'), 'DetectorIds')).toEqual([d]);
  await ok('guardduty', 'update-detector', '--detector-id', d, '--no-enable');
  expect(get(await ok('guardduty', 'get-detector', '--detector-id', d), 'Status')).toBe('DISABLED');
  await ok('guardduty', 'delete-detector', '--detector-id', d);
}

async function ssmChain(): Promise<void> {
  const i = sb().seeded()?.patch_instance_id ?? '';
  const args = [
    '--document-name',
    'AWS-RunPatchBaseline',
    '--parameters',
    'Operation=Install',
    '--timeout-seconds',
    '600',
  ];
  const id = get(await ok('ssm', 'send-command', '--instance-ids', i, ...args), 'Command', 'CommandId') as string;
  expect(get(await ok('ssm', 'get-command-invocation', '--command-id', id, '--instance-id', i), 'Status')).toBe(
    'Success',
  );
  expect(get(await ok('ssm', 'list-commands', '--command-id', id), 'Commands', 0, 'Status')).toBe('Success');
  expect(
    get(
      await ok('ssm', 'describe-instance-patch-states', '--instance-ids', i),
      'InstancePatchStates',
      0,
      'MissingCount',
    ),
  ).toBe(0);
}

async function stsChain(): Promise<void> {
  expect(get(await ok('sts', 'get-caller-identity'), 'Account')).toBe('123456789012');
}

describe('AWS CLI v2 against the sandbox', () => {
  it('drives every emulated operation through /usr/bin/aws', async () => {
    if (!existsSync(AWS)) {
      console.log(`${AWS} is not installed: skipping the AWS CLI checks (install the awscli package to run them)`);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'sandbox-cli-'));
    try {
      await Promise.all([ec2Chain(), s3Chain(dir), iamChain(), guarddutyChain(), ssmChain(), stsChain()]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);
});
