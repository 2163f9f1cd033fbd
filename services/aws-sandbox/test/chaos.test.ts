import {
  CreateSecurityGroupCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  ModifyInstanceMetadataOptionsCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { CreateDetectorCommand } from '@aws-sdk/client-guardduty';
import { ListUsersCommand } from '@aws-sdk/client-iam';
import { ListBucketsCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { ListCommandsCommand } from '@aws-sdk/client-ssm';
import { Throttler, defaultRate } from '../src/throttle';
import { awsError, clients, useSandbox } from './helpers';

const { sb, c } = useSandbox({ seed: true });

const admin = (method: string, path: string, body?: unknown) =>
  fetch(`${sb().url}/_sandbox/${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body) });

afterEach(async () => {
  await admin('DELETE', 'faults');
  await admin('DELETE', 'latency');
  sb().setThrottling({ enabled: true });
});

describe('throttling', () => {
  it('models EC2 published buckets (per region and action) on a fake clock', () => {
    expect(defaultRate('ec2', 'DescribeInstances')).toEqual({ capacity: 100, refill_per_second: 20 });
    expect(defaultRate('ec2', 'AuthorizeSecurityGroupIngress')).toEqual({ capacity: 50, refill_per_second: 5 });
    expect(defaultRate('ec2', 'RevokeSecurityGroupIngress')).toEqual({ capacity: 50, refill_per_second: 5 });
    expect(defaultRate('ec2', 'ModifyInstanceMetadataOptions')).toEqual({ capacity: 100, refill_per_second: 5 });
    expect(defaultRate('ec2', 'CreateTags')).toEqual({ capacity: 200, refill_per_second: 5 });
    const t = new Throttler();
    const take = (at: number, region = 'us-east-1') => t.take(region, 'ec2', 'DescribeInstances', at);
    expect(Array.from({ length: 100 }, () => take(0)).every(Boolean)).toBe(true);
    expect(take(0)).toBe(false);
    expect(take(0, 'eu-west-1')).toBe(true);
    expect(take(49)).toBe(false);
    expect(take(50)).toBe(true);
    expect(take(50)).toBe(false);
    expect(Array.from({ length: 100 }, () => take(10_050)).filter(Boolean)).toHaveLength(100);
  });

  it('answers RequestLimitExceeded (503) past the bucket over HTTP and counts throttles per operation', async () => {
    await admin('DELETE', 'stats');
    await admin('POST', 'throttling', {
      rates: { 'ec2:DescribeInstances': { capacity: 10, refill_per_second: 0.001 } },
    });
    const results = await Promise.allSettled(
      Array.from({ length: 25 }, () => c().ec2.send(new DescribeInstancesCommand({}))),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toHaveLength(15);
    const e = await awsError(Promise.reject((failed[0] as PromiseRejectedResult).reason));
    expect(e).toMatchObject({ name: 'RequestLimitExceeded', status: 503 });
    const stats = (await (await admin('GET', 'stats')).json()) as Record<string, { calls: number; throttled: number }>;
    expect(stats['ec2:DescribeInstances']).toMatchObject({ calls: 25, throttled: 15 });
    await admin('POST', 'throttling', { rates: { 'ec2:DescribeInstances': { capacity: 100, refill_per_second: 20 } } });
  });

  it('lets the SDK standard retry (maxAttempts 10) get every throttled call through', async () => {
    await admin('POST', 'throttling', {
      rates: { 'ec2:DescribeSecurityGroups': { capacity: 2, refill_per_second: 5 } },
    });
    const patient = clients(sb().url, 'us-east-1', 10);
    try {
      const out = await Promise.all(
        Array.from({ length: 12 }, () => patient.ec2.send(new DescribeSecurityGroupsCommand({}))),
      );
      expect(out).toHaveLength(12);
    } finally {
      for (const x of Object.values(patient)) x.destroy();
    }
    const s = sb().stats()['ec2:DescribeSecurityGroups'];
    expect(s?.throttled).toBeGreaterThan(0);
    expect((s?.calls ?? 0) - (s?.throttled ?? 0)).toBeGreaterThanOrEqual(12);
    await admin('POST', 'throttling', {
      rates: { 'ec2:DescribeSecurityGroups': { capacity: 100, refill_per_second: 20 } },
    });
  }, 60_000);

  it('uses each protocol throttling error for the other services, and can be switched off', async () => {
    sb().setThrottling({
      rates: {
        'iam:*': { capacity: 1, refill_per_second: 0.01 },
        's3:*': { capacity: 1, refill_per_second: 0.01 },
        'ssm:*': { capacity: 1, refill_per_second: 0.01 },
      },
    });
    await c().iam.send(new ListUsersCommand({}));
    expect(await awsError(c().iam.send(new ListUsersCommand({})))).toMatchObject({ code: 'Throttling', status: 400 });
    await c().s3.send(new ListBucketsCommand({}));
    expect(await awsError(c().s3.send(new ListBucketsCommand({})))).toMatchObject({ name: 'SlowDown', status: 503 });
    await c().ssm.send(new ListCommandsCommand({}));
    expect(await awsError(c().ssm.send(new ListCommandsCommand({})))).toMatchObject({
      name: 'ThrottlingException',
      status: 400,
    });
    const off = await admin('POST', 'throttling', { enabled: false });
    expect(await off.json()).toMatchObject({ enabled: false });
    await c().iam.send(new ListUsersCommand({}));
    sb().setThrottling({
      rates: {
        'iam:*': { capacity: 100, refill_per_second: 20 },
        's3:*': { capacity: 3500, refill_per_second: 3500 },
        'ssm:*': { capacity: 100, refill_per_second: 20 },
      },
    });
  });
});

describe('latency injection', () => {
  it('delays one operation by a fixed or ranged amount and leaves the others alone', async () => {
    expect((await admin('POST', 'latency', { service: 'ec2', operation: 'DescribeInstances', ms: 250 })).status).toBe(
      200,
    );
    let t = Date.now();
    await c().ec2.send(new DescribeInstancesCommand({}));
    expect(Date.now() - t).toBeGreaterThanOrEqual(240);
    t = Date.now();
    await c().ec2.send(new DescribeSecurityGroupsCommand({}));
    expect(Date.now() - t).toBeLessThan(200);
    await admin('POST', 'latency', { rules: [{ service: 's3', min_ms: 100, max_ms: 150 }] });
    t = Date.now();
    await c().s3.send(new ListBucketsCommand({}));
    expect(Date.now() - t).toBeGreaterThanOrEqual(95);
    expect((await admin('POST', 'latency', { min_ms: 10 })).status).toBe(400);
  });
});

describe('fault injection', () => {
  it('fails a named operation for one resource N times with the given code, in EC2 shape', async () => {
    const mk = (n: string) => c().ec2.send(new CreateSecurityGroupCommand({ GroupName: n, Description: 'x' }));
    const g = (await mk('fault-a')).GroupId ?? '';
    const other = (await mk('fault-b')).GroupId ?? '';
    const res = await admin('POST', 'faults', {
      operation: 'RevokeSecurityGroupIngress',
      resource_id: g,
      times: 1,
      code: 'UnauthorizedOperation',
    });
    expect(res.status).toBe(201);
    const revoke = (id: string) =>
      c().ec2.send(
        new RevokeSecurityGroupIngressCommand({
          GroupId: id,
          IpProtocol: 'tcp',
          FromPort: 22,
          ToPort: 22,
          CidrIp: '0.0.0.0/0',
        }),
      );
    expect(await awsError(revoke(g))).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    await revoke(other);
    await revoke(g);
    expect(sb().stats()['ec2:RevokeSecurityGroupIngress']?.faulted).toBe(1);
  });

  it('fails always, in each protocol shape (S3 AccessDenied, GuardDuty ConflictException, EC2 IncorrectState, InternalError)', async () => {
    sb().addFault({ service: 's3', operation: 'PutPublicAccessBlock', code: 'AccessDenied', always: true });
    const conf = {
      BlockPublicAcls: true,
      IgnorePublicAcls: true,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: true,
    };
    for (let i = 0; i < 2; i++) {
      expect(
        await awsError(
          c().s3.send(
            new PutPublicAccessBlockCommand({ Bucket: 'aegis-demo-public', PublicAccessBlockConfiguration: conf }),
          ),
        ),
      ).toMatchObject({
        name: 'AccessDenied',
        status: 403,
      });
    }
    await admin('POST', 'faults', { service: 'guardduty', operation: 'CreateDetector', code: 'ConflictException' });
    expect(await awsError(c().guardduty.send(new CreateDetectorCommand({ Enable: true })))).toMatchObject({
      name: 'ConflictException',
      status: 409,
    });
    const id = sb().seeded()?.imds_instance_id ?? '';
    await admin('POST', 'faults', {
      operation: 'ModifyInstanceMetadataOptions',
      resource_id: id,
      code: 'IncorrectState',
      times: 1,
    });
    expect(
      await awsError(
        c().ec2.send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: id, HttpTokens: 'required' })),
      ),
    ).toMatchObject({
      name: 'IncorrectState',
      status: 400,
    });
    await admin('POST', 'faults', { operation: 'DescribeInstances', code: 'InternalError', times: 1 });
    expect(await awsError(c().ec2.send(new DescribeInstancesCommand({})))).toMatchObject({
      name: 'InternalError',
      status: 500,
    });
    expect(((await (await admin('GET', 'faults')).json()) as unknown[]).length).toBe(4);
    await admin('DELETE', 'faults');
    await c().s3.send(
      new PutPublicAccessBlockCommand({ Bucket: 'aegis-demo-public', PublicAccessBlockConfiguration: conf }),
    );
  });

  it('fails a fraction of calls, and rejects malformed fault bodies', async () => {
    await admin('POST', 'faults', { operation: 'DescribeSecurityGroups', fraction: 0, code: 'InternalError' });
    await c().ec2.send(new DescribeSecurityGroupsCommand({}));
    expect((await admin('POST', 'faults', { operation: 'X', code: 'Y', times: 1, always: true })).status).toBe(400);
    expect((await admin('POST', 'faults', { code: 'Y' })).status).toBe(400);
  });
});
