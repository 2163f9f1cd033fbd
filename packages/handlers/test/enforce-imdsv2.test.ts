import {
  DescribeInstancesCommand,
  EC2Client,
  ModifyInstanceMetadataOptionsCommand,
  type InstanceMetadataOptionsResponse,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { enforceImdsv2 as h } from '../src/handlers/enforce-imdsv2';
import { awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const ec2 = mockClient(EC2Client);
const ID = 'i-0abc123def4567890';
const T = target(ID);

/** An instance whose new metadata options stay `pending` for `pendingReads` describes after a modify. */
function fakeInstance(initial: InstanceMetadataOptionsResponse, opts: { state?: string; pendingReads?: number } = {}) {
  let meta: InstanceMetadataOptionsResponse = { State: 'applied', ...initial };
  let pending = 0;
  ec2.on(DescribeInstancesCommand).callsFake(() => {
    const State = pending > 0 ? 'pending' : 'applied';
    if (pending > 0) pending--;
    return {
      Reservations: [
        {
          Instances: [
            { InstanceId: ID, State: { Name: opts.state ?? 'running' }, MetadataOptions: { ...meta, State } },
          ],
        },
      ],
    };
  });
  ec2.on(ModifyInstanceMetadataOptionsCommand).callsFake((input: Record<string, unknown>) => {
    const next = { ...meta };
    if (input.HttpTokens) next.HttpTokens = input.HttpTokens as 'required';
    if (input.HttpEndpoint) next.HttpEndpoint = input.HttpEndpoint as 'enabled';
    if (typeof input.HttpPutResponseHopLimit === 'number') next.HttpPutResponseHopLimit = input.HttpPutResponseHopLimit;
    meta = next;
    pending = opts.pendingReads ?? 0;
    return { InstanceId: ID };
  });
  return { meta: () => meta };
}

beforeEach(() => ec2.reset());

describe('enforce-imdsv2', () => {
  it('requires tokens, keeps the hop limit, waits until applied, and rolls back exactly', async () => {
    const inst = fakeInstance(
      { HttpTokens: 'optional', HttpEndpoint: 'disabled', HttpPutResponseHopLimit: 3 },
      { pendingReads: 3 },
    );
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan.changes).toEqual([
      `set HttpTokens=required on ${ID} (was optional)`,
      `set HttpEndpoint=enabled on ${ID} (was disabled)`,
    ]);
    await h.apply(ctx, T, plan, state);
    expect(ec2.commandCalls(ModifyInstanceMetadataOptionsCommand)[0]?.args[0].input).toEqual({
      InstanceId: ID,
      HttpTokens: 'required',
      HttpEndpoint: 'enabled',
    });
    // One describe for inspect, three pending reads, then the applied one.
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(5);
    expect(inst.meta()).toMatchObject({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 3 });
    expect(await h.verify(ctx, T)).toMatchObject({ compliant: true });

    if (!h.rollback.reversible) throw new Error('reversible');
    const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
    expect(h.rollback.drifted(await h.inspect(ctx, T), input)).toBeNull();
    await h.rollback.restore(ctx, T, input);
    await h.rollback.restore(ctx, T, input);
    expect(await h.inspect(ctx, T)).toEqual(state);
    expect(ec2.commandCalls(ModifyInstanceMetadataOptionsCommand)[1]?.args[0].input).toEqual({
      InstanceId: ID,
      HttpTokens: 'optional',
      HttpEndpoint: 'disabled',
      HttpPutResponseHopLimit: 3,
    });
    expect(h.rollback.drifted(state, input)).toMatch(/HttpTokens=optional/);
  });

  it('verify says not compliant while the options are still pending', async () => {
    fakeInstance({ HttpTokens: 'optional', HttpEndpoint: 'enabled' }, { pendingReads: 100 });
    const ctx = makeCtx();
    await ctx.clients
      .ec2('us-east-1')
      .send(new ModifyInstanceMetadataOptionsCommand({ InstanceId: ID, HttpTokens: 'required' }));
    expect(await h.verify(ctx, T)).toEqual({
      compliant: false,
      detail: 'HttpTokens=required, HttpEndpoint=enabled, hop limit 1 (still pending)',
    });
  });

  it('the wait for `applied` ends when the job is aborted', async () => {
    fakeInstance({ HttpTokens: 'optional' }, { pendingReads: 1_000_000 });
    const ac = new AbortController();
    const ctx = makeCtx({ signal: ac.signal, settings: { keyMaxAgeDays: 90, pollIntervalMs: 5 } });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    setTimeout(() => ac.abort(), 30);
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'cancelled', code: 'AbortError' });
  });

  it.each(['terminated', 'shutting-down'])('a %s instance is skipped', async (name) => {
    fakeInstance({ HttpTokens: 'optional' }, { state: name });
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan).toMatchObject({ noop: true, skip_reason: `instance ${ID} is ${name}` });
    await h.apply(ctx, T, plan, state);
    expect(ec2.commandCalls(ModifyInstanceMetadataOptionsCommand)).toHaveLength(0);
  });

  it('an instance already requiring tokens is a noop', async () => {
    fakeInstance({ HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2 });
    const { plan } = await inspectAndPlan(h, makeCtx(), T);
    expect(plan).toMatchObject({ noop: true, changes: [] });
    expect(plan.skip_reason).toBeUndefined();
  });

  it('passes the abort signal; errors keep their codes', async () => {
    fakeInstance({ HttpTokens: 'optional' });
    const signal = new AbortController().signal;
    const ctx = makeCtx({ signal });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    for (const c of ec2.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });

    ec2.on(ModifyInstanceMetadataOptionsCommand).rejects(awsError('UnauthorizedOperation', 403));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'permanent', code: 'UnauthorizedOperation' });
    ec2.on(ModifyInstanceMetadataOptionsCommand).rejects(awsError('IncorrectInstanceState'));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'conflict', code: 'IncorrectInstanceState' });
    ec2.on(ModifyInstanceMetadataOptionsCommand).rejects(awsError('RequestLimitExceeded', 503));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'throttled', code: 'RequestLimitExceeded' });
    ec2.on(DescribeInstancesCommand).rejects(awsError('InvalidInstanceID.NotFound'));
    expect(await classOf(h.inspect(ctx, T))).toEqual({ class: 'not_found', code: 'InvalidInstanceID.NotFound' });
    ec2.on(DescribeInstancesCommand).resolves({ Reservations: [] });
    expect(await classOf(h.inspect(ctx, T))).toEqual({ class: 'not_found', code: 'InvalidInstanceID.NotFound' });
  });

  it('checks resource ids', () => {
    expect(h.checkResourceId(ID)).toBeNull();
    expect(h.checkResourceId('my-bucket')).toMatch(/not an EC2 instance id/);
    expect(h.checkResourceId('sg-0abc123def4567890')).not.toBeNull();
  });
});
