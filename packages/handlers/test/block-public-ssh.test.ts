import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  EC2Client,
  RevokeSecurityGroupIngressCommand,
  type IpPermission,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { blockPublicSsh as h } from '../src/handlers/block-public-ssh';
import { awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const ec2 = mockClient(EC2Client);
const SG = 'sg-0abc123def4567890';
const T = target(SG);

/** A security group in memory that answers like EC2: exact-match revoke, duplicate-refusing authorize. */
function fakeGroup(initial: IpPermission[]) {
  let rules: IpPermission[] = initial.flatMap(split);
  function split(p: IpPermission): IpPermission[] {
    const base = { IpProtocol: p.IpProtocol, FromPort: p.FromPort, ToPort: p.ToPort };
    return [
      ...(p.IpRanges ?? []).map((r) => ({ ...base, IpRanges: [r] })),
      ...(p.Ipv6Ranges ?? []).map((r) => ({ ...base, Ipv6Ranges: [r] })),
    ];
  }
  const key = (p: IpPermission) =>
    [p.IpProtocol, p.FromPort ?? -1, p.ToPort ?? -1, p.IpRanges?.[0]?.CidrIp ?? p.Ipv6Ranges?.[0]?.CidrIpv6].join('|');
  ec2.on(DescribeSecurityGroupsCommand).callsFake(() => ({ SecurityGroups: [{ GroupId: SG, IpPermissions: rules }] }));
  ec2.on(AuthorizeSecurityGroupIngressCommand).callsFake((input: { IpPermissions: IpPermission[] }) => {
    for (const p of input.IpPermissions.flatMap(split)) {
      if (rules.some((r) => key(r) === key(p))) throw awsError('InvalidPermission.Duplicate');
      rules.push(p);
    }
    return { Return: true };
  });
  ec2.on(RevokeSecurityGroupIngressCommand).callsFake((input: { IpPermissions: IpPermission[] }) => {
    const gone = new Set(input.IpPermissions.flatMap(split).map(key));
    const unknown = [...gone].filter((k) => !rules.some((r) => key(r) === k));
    rules = rules.filter((r) => !gone.has(key(r)));
    return { Return: true, UnknownIpPermissions: unknown.length ? [{}] : [] };
  });
  return { rules: () => rules };
}

const world = (from: number, to: number, description?: string, protocol = 'tcp'): IpPermission => ({
  IpProtocol: protocol,
  FromPort: from,
  ToPort: to,
  IpRanges: [{ CidrIp: '0.0.0.0/0', ...(description ? { Description: description } : {}) }],
});

function authorized() {
  return ec2.commandCalls(AuthorizeSecurityGroupIngressCommand).map((c) => c.args[0].input.IpPermissions?.[0]);
}
function revoked() {
  return ec2.commandCalls(RevokeSecurityGroupIngressCommand).map((c) => c.args[0].input.IpPermissions?.[0]);
}

beforeEach(() => ec2.reset());

describe('block-public-ssh plan and apply', () => {
  it('removes only the world CIDR of a permission and keeps its other CIDRs', async () => {
    const group = fakeGroup([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }, { CidrIp: '10.0.0.0/8' }] },
    ]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan.noop).toBe(false);
    expect(plan.changes).toEqual(['revoke tcp 22 from 0.0.0.0/0']);
    await h.apply(ctx, T, plan, state);
    expect(revoked()).toEqual([{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    expect(authorized()).toEqual([]);
    expect(group.rules()).toEqual([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
    ]);
    expect(await h.verify(ctx, T)).toMatchObject({ compliant: true });
  });

  it('narrows tcp 0-65535 into the exact sub-ranges around 22 and 3389, keeping the description', async () => {
    fakeGroup([world(0, 65535, 'legacy all-open')]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(authorized()).toEqual(
      [
        [0, 21],
        [23, 3388],
        [3390, 65535],
      ].map(([f, t]) => ({
        IpProtocol: 'tcp',
        FromPort: f,
        ToPort: t,
        IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'legacy all-open' }],
      })),
    );
    expect(revoked()).toEqual([{ IpProtocol: 'tcp', FromPort: 0, ToPort: 65535, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }]);
    // Narrowed ranges are authorised first, so the other ports never close.
    const order = ec2.calls().map((c) => c.args[0].constructor.name);
    expect(order.lastIndexOf('AuthorizeSecurityGroupIngressCommand')).toBeLessThan(
      order.indexOf('RevokeSecurityGroupIngressCommand'),
    );
    expect(await h.verify(ctx, T)).toMatchObject({ compliant: true });
  });

  it('revokes RDP open to ::/0 through Ipv6Ranges', async () => {
    fakeGroup([{ IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] }]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(revoked()).toEqual([
      { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
    ]);
    expect(authorized()).toEqual([]);
  });

  it('narrows an all-protocol (-1) world rule to tcp without 22/3389, all udp and all icmp', async () => {
    fakeGroup([
      { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'all' }] },
      { IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
    ]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(revoked()).toEqual([
      { IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] },
      { IpProtocol: '-1', Ipv6Ranges: [{ CidrIpv6: '::/0' }] },
    ]);
    const v4 = { IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'all' }] };
    const v6 = { Ipv6Ranges: [{ CidrIpv6: '::/0' }] };
    expect(authorized()).toEqual([
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 21, ...v4 },
      { IpProtocol: 'tcp', FromPort: 23, ToPort: 3388, ...v4 },
      { IpProtocol: 'tcp', FromPort: 3390, ToPort: 65535, ...v4 },
      { IpProtocol: 'udp', FromPort: 0, ToPort: 65535, ...v4 },
      { IpProtocol: 'icmp', FromPort: -1, ToPort: -1, ...v4 },
      { IpProtocol: 'tcp', FromPort: 0, ToPort: 21, ...v6 },
      { IpProtocol: 'tcp', FromPort: 23, ToPort: 3388, ...v6 },
      { IpProtocol: 'tcp', FromPort: 3390, ToPort: 65535, ...v6 },
      { IpProtocol: 'udp', FromPort: 0, ToPort: 65535, ...v6 },
      { IpProtocol: '58', FromPort: -1, ToPort: -1, ...v6 },
    ]);
    expect(await h.verify(ctx, T)).toMatchObject({ compliant: true });
  });

  it('is a noop for SSH open only to a private range, for udp 22, and for a world rule on other ports', async () => {
    fakeGroup([
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      world(22, 22, undefined, 'udp'),
      world(443, 443),
      world(23, 3388),
    ]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan).toMatchObject({ noop: true, changes: [], ops: { authorize: [], revoke: [] } });
    expect(plan.planned_state).toEqual(state);
    await h.apply(ctx, T, plan, state);
    expect(revoked()).toEqual([]);
    expect(authorized()).toEqual([]);
  });

  it('removes a 22-22 world rule without re-authorising anything, and accepts protocol number 6 as tcp', async () => {
    fakeGroup([world(22, 22, undefined, '6')]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan.changes).toEqual(['revoke tcp 22 from 0.0.0.0/0']);
    await h.apply(ctx, T, plan, state);
    expect(authorized()).toEqual([]);
    expect(revoked()).toHaveLength(1);
  });

  it('does not authorise (nor later revoke) a sub-range that already exists as its own rule', async () => {
    const group = fakeGroup([world(0, 65535), world(0, 21, 'ftp and below')]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(authorized().map((p) => [p?.FromPort, p?.ToPort])).toEqual([
      [23, 3388],
      [3390, 65535],
    ]);
    if (!h.rollback.reversible) throw new Error('block-public-ssh must be reversible');
    await h.rollback.restore(ctx, T, { previous_state: state, planned_state: plan.planned_state, ops: plan.ops });
    expect(group.rules()).toEqual(expect.arrayContaining([world(0, 21, 'ftp and below'), world(0, 65535)]));
    expect(group.rules()).toHaveLength(2);
  });

  it('is idempotent: applying the same plan twice ends in the same group', async () => {
    const group = fakeGroup([world(0, 65535)]);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    const after = JSON.stringify(group.rules());
    await h.apply(ctx, T, plan, state);
    expect(JSON.stringify(group.rules())).toBe(after);
  });

  it('verify reads again and reports a revoke that silently matched nothing', async () => {
    ec2
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: SG, IpPermissions: [world(22, 22)] }] });
    ec2.on(RevokeSecurityGroupIngressCommand).resolves({ Return: true, UnknownIpPermissions: [world(22, 22)] });
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(await h.verify(ctx, T)).toEqual({
      compliant: false,
      detail: 'still open to the world: tcp 22 from 0.0.0.0/0',
    });
  });
});

describe('block-public-ssh rollback', () => {
  it('restores exactly the previous rules, twice in a row, and sees drift', async () => {
    const initial = [
      world(0, 65535, 'legacy'),
      { IpProtocol: 'tcp', FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: '::/0', Description: 'rdp' }] },
      { IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
    ];
    const group = fakeGroup(initial);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    if (!h.rollback.reversible) throw new Error('block-public-ssh must be reversible');
    const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
    expect(h.rollback.drifted(await h.inspect(ctx, T), input)).toBeNull();

    await h.rollback.restore(ctx, T, input);
    await h.rollback.restore(ctx, T, input);
    expect(await h.inspect(ctx, T)).toEqual(state);
    expect(group.rules()).toHaveLength(3);
    expect(h.rollback.drifted(state, input)).toMatch(/rules added since the remediation: tcp 0-65535 from 0.0.0.0\/0/);
  });
});

describe('block-public-ssh errors and contract', () => {
  it('passes the abort signal to every call', async () => {
    fakeGroup([world(22, 22)]);
    const signal = new AbortController().signal;
    const ctx = makeCtx({ signal });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(ec2.calls().length).toBeGreaterThan(1);
    for (const c of ec2.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });
  });

  it('a missing group is not_found, also when EC2 answers an empty list', async () => {
    ec2
      .on(DescribeSecurityGroupsCommand)
      .rejectsOnce(awsError('InvalidGroup.NotFound'))
      .resolves({ SecurityGroups: [] });
    expect(await classOf(h.inspect(makeCtx(), T))).toEqual({ class: 'not_found', code: 'InvalidGroup.NotFound' });
    expect(await classOf(h.inspect(makeCtx(), T))).toEqual({ class: 'not_found', code: 'InvalidGroup.NotFound' });
  });

  it.each([
    ['UnauthorizedOperation', 403, 'permanent'],
    ['RequestLimitExceeded', 503, 'throttled'],
    ['IncorrectState', 400, 'conflict'],
  ] as const)('%s (HTTP %d) from EC2 reaches the caller as %s', async (code, status, cls) => {
    ec2
      .on(DescribeSecurityGroupsCommand)
      .resolves({ SecurityGroups: [{ GroupId: SG, IpPermissions: [world(22, 22)] }] });
    ec2.on(RevokeSecurityGroupIngressCommand).rejects(awsError(code, status));
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: cls, code });
  });

  it('checks resource ids', () => {
    expect(h.checkResourceId(SG)).toBeNull();
    expect(h.checkResourceId('sg-12345678')).toBeNull();
    expect(h.checkResourceId('my-bucket')).toMatch(/not a security group id/);
    expect(h.checkResourceId('i-0abc123def4567890')).not.toBeNull();
  });
});
