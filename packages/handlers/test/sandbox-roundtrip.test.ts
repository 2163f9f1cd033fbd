import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  RunInstancesCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { CreateDetectorCommand } from '@aws-sdk/client-guardduty';
import { CreateAccessKeyCommand, CreateUserCommand } from '@aws-sdk/client-iam';
import { CreateBucketCommand, PutPublicAccessBlockCommand } from '@aws-sdk/client-s3';
import { classifyError, type Json } from '@aegis/core';
import { startSandbox, type SandboxHandle } from '../../../services/aws-sandbox/src';
import {
  CloudClients,
  DEFAULT_SETTINGS,
  createDefaultRegistry,
  type Handler,
  type HandlerContext,
  type Target,
} from '../src';
import { DAY_MS, target } from './helpers';

/**
 * Every handler against the aws-sandbox over real HTTP, through the SDK's own wire protocols:
 * inspect → plan → apply → verify, a second run finds nothing to do, and rollback brings back
 * exactly the state inspect saw first.
 */
const registry = createDefaultRegistry();
const handler = (name: string): Handler => registry.get(name);
const savedEnv = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
let sb: SandboxHandle;
let clients: CloudClients;
let ctx: HandlerContext;

beforeAll(async () => {
  // `cloud: 'aws'` takes the standard credential chain; the sandbox accepts any key.
  process.env.AWS_ACCESS_KEY_ID = 'AKIASANDBOXTEST00001';
  process.env.AWS_SECRET_ACCESS_KEY = 'sandbox-secret';
  sb = await startSandbox({
    port: 0,
    seed: true,
    throttling: false,
    logLevel: 'silent',
    behaviour: { imdsApplyDelayMs: 60, ssmCommandMs: 120 },
  });
  clients = new CloudClients({ cloud: 'aws', endpoint: sb.url, maxAttempts: 1 });
  ctx = { clients, settings: { ...DEFAULT_SETTINGS, pollIntervalMs: 20 }, now: () => new Date() };
});

afterAll(async () => {
  clients.destroy();
  await sb.close();
  process.env.AWS_ACCESS_KEY_ID = savedEnv.id;
  process.env.AWS_SECRET_ACCESS_KEY = savedEnv.secret;
  if (savedEnv.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
  if (savedEnv.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
});

/** The whole life of one remediation; returns what the snapshot would hold. */
async function remediate(h: Handler, t: Target) {
  const previous = await h.inspect(ctx, t);
  const plan = h.plan(previous, t, ctx.settings, ctx.now());
  expect(plan.noop).toBe(false);
  await h.apply(ctx, t, plan, previous);
  const verified = await h.verify(ctx, t);
  expect(verified).toMatchObject({ compliant: true });
  const after = await h.inspect(ctx, t);
  expect(h.plan(after, t, ctx.settings, ctx.now()).noop).toBe(true);
  return { previous, plan, after };
}

/** Rollback from the snapshot data, twice (idempotent), then the resource must read exactly as before. */
async function rollBack(h: Handler, t: Target, r: Awaited<ReturnType<typeof remediate>>): Promise<Json> {
  if (!h.rollback.reversible) throw new Error(`${h.name} is not reversible`);
  const input = { previous_state: r.previous, planned_state: r.plan.planned_state, ops: r.plan.ops };
  expect(h.rollback.drifted(r.after, input)).toBeNull();
  await h.rollback.restore(ctx, t, input);
  await h.rollback.restore(ctx, t, input);
  const restored = await h.inspect(ctx, t);
  expect(restored).toEqual(r.previous);
  return restored;
}

describe('block-public-ssh against the sandbox', () => {
  const h = handler('block-public-ssh');

  it('narrows and revokes, keeps other CIDRs, and rolls back to the exact rules', async () => {
    const ec2 = clients.ec2('us-east-1');
    const { GroupId } = await ec2.send(
      new CreateSecurityGroupCommand({ GroupName: 'rt-ssh', Description: 'round trip' }),
    );
    if (!GroupId) throw new Error('no group id');
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId,
        IpPermissions: [
          { IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'legacy' }] },
          {
            IpProtocol: 'tcp',
            FromPort: 22,
            ToPort: 22,
            IpRanges: [{ CidrIp: '10.0.0.0/8', Description: 'vpn' }],
            Ipv6Ranges: [{ CidrIpv6: '::/0' }],
          },
          { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0', Description: 'rdp' }] },
          { IpProtocol: '-1', IpRanges: [{ CidrIp: '198.51.100.0/24' }] },
        ],
      }),
    );
    const raw = async () =>
      (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [GroupId] }))).SecurityGroups?.[0]?.IpPermissions;
    const rawBefore = await raw();
    const t = target(GroupId);
    const r = await remediate(h, t);
    expect(r.plan.changes).toHaveLength(6);
    expect(r.after).toEqual(r.plan.planned_state);
    await rollBack(h, t, r);
    expect(sortPermissions(await raw())).toEqual(sortPermissions(rawBefore));
  });

  it('the seeded demo group: SSH closed, 443 left open', async () => {
    const id = sb.seeded()?.security_group_id ?? '';
    const r = await remediate(h, target(id));
    expect(r.plan.changes).toEqual(['revoke tcp 22 from 0.0.0.0/0 ("ssh from anywhere")']);
    await rollBack(h, target(id), r);
  });

  it('a missing group is not_found over the wire', async () => {
    const err = await h.inspect(ctx, target('sg-0123456789abcdef0')).catch((e: unknown) => e);
    expect(classifyError(err)).toMatchObject({ class: 'not_found', code: 'InvalidGroup.NotFound' });
  });
});

/** One line per CIDR grant (descriptions included), sorted: EC2 may group the same rules differently. */
function sortPermissions(perms: IpPermission[] | undefined): string[] {
  return (perms ?? [])
    .flatMap((p) =>
      [...(p.IpRanges ?? []), ...(p.Ipv6Ranges ?? [])].map((r) =>
        JSON.stringify([p.IpProtocol, p.FromPort, p.ToPort, r, p.UserIdGroupPairs, p.PrefixListIds]),
      ),
    )
    .sort();
}

describe('s3-block-public-access against the sandbox', () => {
  const h = handler('s3-block-public-access');

  it('a bucket without configuration (seeded): created, then deleted by rollback', async () => {
    const t = target(sb.seeded()?.bucket ?? '');
    await rollBack(h, t, await remediate(h, t));
  });

  it('a bucket in another region with partial flags: restored flag by flag', async () => {
    const s3 = clients.s3('eu-west-1');
    await s3.send(
      new CreateBucketCommand({
        Bucket: 'rt-eu-bucket',
        CreateBucketConfiguration: { LocationConstraint: 'eu-west-1' },
      }),
    );
    await s3.send(
      new PutPublicAccessBlockCommand({
        Bucket: 'rt-eu-bucket',
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, IgnorePublicAcls: false, BlockPublicPolicy: true },
      }),
    );
    const t = target('rt-eu-bucket');
    const r = await remediate(h, t);
    expect(r.previous).toMatchObject({
      region: 'eu-west-1',
      config: { IgnorePublicAcls: false, RestrictPublicBuckets: false },
    });
    await rollBack(h, t, r);
  });
});

describe('enforce-imdsv2 against the sandbox', () => {
  const h = handler('enforce-imdsv2');

  it('waits for applied, keeps hop limit 3, and restores optional tokens', async () => {
    const out = await clients.ec2('us-east-1').send(
      new RunInstancesCommand({
        ImageId: 'ami-12c6146b',
        MinCount: 1,
        MaxCount: 1,
        MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 3 },
      }),
    );
    const t = target(out.Instances?.[0]?.InstanceId ?? '');
    const r = await remediate(h, t);
    expect(r.after).toMatchObject({ http_tokens: 'required', http_endpoint: 'enabled', hop_limit: 3 });
    await rollBack(h, t, r);
  });

  it('a terminated instance is skipped', async () => {
    const id = sb.seeded()?.imds_instance_id ?? '';
    sb.setInstanceState(id, 'terminated');
    const state = await h.inspect(ctx, target(id));
    expect(h.plan(state, target(id), ctx.settings, ctx.now())).toMatchObject({
      noop: true,
      skip_reason: expect.any(String),
    });
    sb.setInstanceState(id, 'running');
  });
});

describe('enable-guardduty against the sandbox', () => {
  const h = handler('enable-guardduty');
  const account = () => sb.seeded()?.account_id ?? '';

  it('no detector: creates one; rollback finds it by listing and deletes it', async () => {
    const t = target(account(), 'us-west-2');
    const r = await remediate(h, t);
    expect(r.previous).toMatchObject({ detector: null });
    await rollBack(h, t, r);
  });

  it('a disabled detector: enabled; rollback disables it with its old frequency', async () => {
    await clients
      .guardduty('eu-central-1')
      .send(new CreateDetectorCommand({ Enable: false, FindingPublishingFrequency: 'ONE_HOUR' }));
    const t = target(account(), 'eu-central-1');
    const r = await remediate(h, t);
    expect(r.previous).toMatchObject({ detector: { status: 'DISABLED', frequency: 'ONE_HOUR' } });
    await rollBack(h, t, r);
  });
});

describe('rotate-iam-keys against the sandbox', () => {
  const h = handler('rotate-iam-keys');

  it('deactivates only the old key of a user named by ARN; rollback reactivates exactly it', async () => {
    const iam = clients.iam();
    const user = await iam.send(new CreateUserCommand({ UserName: 'rt-user', Path: '/ci/' }));
    const oldKey = (await iam.send(new CreateAccessKeyCommand({ UserName: 'rt-user' }))).AccessKey?.AccessKeyId ?? '';
    await iam.send(new CreateAccessKeyCommand({ UserName: 'rt-user' }));
    sb.setAccessKeyCreateDate(oldKey, new Date(Date.now() - 150 * DAY_MS));
    const t = target(user.User?.Arn ?? '');
    const r = await remediate(h, t);
    expect(r.plan.ops).toEqual({ deactivate: [oldKey] });
    await rollBack(h, t, r);
  });

  it('the seeded user by plain name', async () => {
    const t = target(sb.seeded()?.iam_user ?? '');
    await rollBack(h, t, await remediate(h, t));
  });

  it('an unknown user is not_found over the wire', async () => {
    const err = await h.inspect(ctx, target('nobody-here')).catch((e: unknown) => e);
    expect(classifyError(err).class).toBe('not_found');
  });
});

describe('run-patch-baseline against the sandbox', () => {
  const h = handler('run-patch-baseline');

  it('a failed run fails with its SSM status; a successful one leaves the instance compliant', async () => {
    const id = sb.seeded()?.patch_instance_id ?? '';
    const t = target(id);
    sb.configure({ ssmInstanceOutcomes: { [id]: 'Failed' } });
    const state = await h.inspect(ctx, t);
    const plan = h.plan(state, t, ctx.settings, ctx.now());
    const err = await h.apply(ctx, t, plan, state).catch((e: unknown) => e);
    expect(classifyError(err).code).toBe('Failed');
    sb.configure({ ssmInstanceOutcomes: { [id]: 'Success' } });
    const r = await remediate(h, t);
    expect(r.after).toMatchObject({ missing: 0, failed: 0, installed: 46 });
  });
});

describe('errors and aborts over real HTTP', () => {
  it('AccessDenied from the wire keeps its code and is permanent', async () => {
    const fault = sb.addFault({ operation: 'PutPublicAccessBlock', code: 'AccessDenied', times: 1 });
    const h = handler('s3-block-public-access');
    await clients.s3('us-east-1').send(new CreateBucketCommand({ Bucket: 'rt-denied' }));
    const t = target('rt-denied');
    const state = await h.inspect(ctx, t);
    const err = await h.apply(ctx, t, h.plan(state, t, ctx.settings, ctx.now()), state).catch((e: unknown) => e);
    expect(classifyError(err)).toMatchObject({ class: 'permanent', code: 'AccessDenied', httpStatus: 403 });
    expect(fault.fired).toBe(1);
  });

  it('an abort stops a slow call in flight', async () => {
    sb.setLatency([{ operation: 'DescribeSecurityGroups', ms: 700 }]);
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 50);
    const err = await handler('block-public-ssh')
      .inspect({ ...ctx, signal: ac.signal }, target(sb.seeded()?.security_group_id ?? ''))
      .catch((e: unknown) => e);
    expect(classifyError(err).class).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(500);
    sb.setLatency([]);
    // The sandbox still sits on the aborted request until its delay ends; let it finish before close.
    await new Promise((resolve) => setTimeout(resolve, 750 - (Date.now() - started)));
  });
});
