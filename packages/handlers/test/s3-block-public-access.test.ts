import {
  DeletePublicAccessBlockCommand,
  GetBucketLocationCommand,
  GetPublicAccessBlockCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  type PublicAccessBlockConfiguration,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { s3BlockPublicAccess as h } from '../src/handlers/s3-block-public-access';
import { awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const s3 = mockClient(S3Client);
const BUCKET = 'acme-public-assets';
const T = target(BUCKET);
const ALL_ON = { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true };

/** One bucket's PublicAccessBlock in memory (undefined: none), in `region`. */
function fakeBucket(initial: PublicAccessBlockConfiguration | undefined, location?: string) {
  let config = initial;
  s3.on(GetBucketLocationCommand).resolves(location === undefined ? {} : { LocationConstraint: location as 'EU' });
  s3.on(GetPublicAccessBlockCommand).callsFake(() => {
    if (!config) throw awsError('NoSuchPublicAccessBlockConfiguration', 404);
    return { PublicAccessBlockConfiguration: config };
  });
  s3.on(PutPublicAccessBlockCommand).callsFake(
    (input: { PublicAccessBlockConfiguration: PublicAccessBlockConfiguration }) => {
      config = { ...input.PublicAccessBlockConfiguration };
      return {};
    },
  );
  s3.on(DeletePublicAccessBlockCommand).callsFake(() => {
    config = undefined;
    return {};
  });
  return { config: () => config };
}

beforeEach(() => s3.reset());

async function roundTrip(initial: PublicAccessBlockConfiguration | undefined) {
  const bucket = fakeBucket(initial);
  const ctx = makeCtx();
  const { state, plan } = await inspectAndPlan(h, ctx, T);
  await h.apply(ctx, T, plan, state);
  return { bucket, ctx, state, plan };
}

describe('s3-block-public-access', () => {
  it('an absent configuration is a state: creates one with all four flags, rollback deletes it', async () => {
    const { bucket, ctx, state, plan } = await roundTrip(undefined);
    expect(state).toEqual({ bucket: BUCKET, region: 'us-east-1', config: null });
    expect(plan.changes).toEqual([
      `create a PublicAccessBlock on ${BUCKET} with all four flags true (the bucket has none)`,
    ]);
    expect(bucket.config()).toEqual(ALL_ON);
    expect(await h.verify(ctx, T)).toMatchObject({ compliant: true });
    if (!h.rollback.reversible) throw new Error('reversible');
    const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
    expect(h.rollback.drifted(await h.inspect(ctx, T), input)).toBeNull();
    await h.rollback.restore(ctx, T, input);
    await h.rollback.restore(ctx, T, input);
    expect(bucket.config()).toBeUndefined();
    expect(await h.inspect(ctx, T)).toEqual(state);
    expect(s3.commandCalls(PutPublicAccessBlockCommand)).toHaveLength(1);
  });

  it('partial flags: turns on the missing ones, rollback restores the previous flags exactly', async () => {
    const previous = {
      BlockPublicAcls: true,
      IgnorePublicAcls: false,
      BlockPublicPolicy: true,
      RestrictPublicBuckets: false,
    };
    const { bucket, ctx, state, plan } = await roundTrip(previous);
    expect(plan.changes).toEqual([
      `set IgnorePublicAcls=true on ${BUCKET} (was false)`,
      `set RestrictPublicBuckets=true on ${BUCKET} (was false)`,
    ]);
    expect(s3.commandCalls(PutPublicAccessBlockCommand)[0]?.args[0].input).toEqual({
      Bucket: BUCKET,
      PublicAccessBlockConfiguration: ALL_ON,
    });
    if (!h.rollback.reversible) throw new Error('reversible');
    await h.rollback.restore(ctx, T, { previous_state: state, planned_state: plan.planned_state, ops: plan.ops });
    expect(bucket.config()).toEqual(previous);
    expect(s3.commandCalls(DeletePublicAccessBlockCommand)).toHaveLength(0);
  });

  it('all four already true is a noop and apply sends nothing', async () => {
    const { plan } = await roundTrip(ALL_ON);
    expect(plan.noop).toBe(true);
    expect(s3.commandCalls(PutPublicAccessBlockCommand)).toHaveLength(0);
  });

  it('uses the client of the bucket region (and reads the legacy EU constraint as eu-west-1)', async () => {
    fakeBucket(undefined, 'ap-southeast-2');
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(state).toMatchObject({ region: 'ap-southeast-2' });
    await h.apply(ctx, T, plan, state);
    const putCall = s3.commandCalls(PutPublicAccessBlockCommand)[0];
    expect(putCall?.thisValue).toBe(ctx.clients.s3('ap-southeast-2'));
    expect(s3.commandCalls(GetBucketLocationCommand)[0]?.thisValue).toBe(ctx.clients.s3('us-east-1'));

    s3.reset();
    fakeBucket(ALL_ON, 'EU');
    expect(await h.inspect(ctx, T)).toMatchObject({ region: 'eu-west-1' });
  });

  it('verify reads back and says which flags are still off', async () => {
    fakeBucket({ BlockPublicAcls: true });
    expect(await h.verify(makeCtx(), T)).toEqual({
      compliant: false,
      detail: 'not blocked: IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets',
    });
  });

  it('drift: someone loosened the bucket after the remediation', async () => {
    const { ctx, state, plan } = await roundTrip(undefined);
    s3.on(GetPublicAccessBlockCommand).resolves({
      PublicAccessBlockConfiguration: { ...ALL_ON, BlockPublicPolicy: false },
    });
    if (!h.rollback.reversible) throw new Error('reversible');
    expect(
      h.rollback.drifted(await h.inspect(ctx, T), {
        previous_state: state,
        planned_state: plan.planned_state,
        ops: plan.ops,
      }),
    ).toMatch(/changed since the remediation/);
  });

  it('passes the abort signal; errors keep their codes', async () => {
    fakeBucket(undefined);
    const signal = new AbortController().signal;
    await h.inspect(makeCtx({ signal }), T);
    for (const c of s3.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });

    s3.on(GetBucketLocationCommand).rejects(awsError('NoSuchBucket', 404));
    expect(await classOf(h.inspect(makeCtx(), T))).toEqual({ class: 'not_found', code: 'NoSuchBucket' });
    s3.on(GetBucketLocationCommand).resolves({});
    s3.on(PutPublicAccessBlockCommand).rejects(awsError('AccessDenied', 403));
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'permanent', code: 'AccessDenied' });
    s3.on(PutPublicAccessBlockCommand).rejects(awsError('SlowDown', 503));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'throttled', code: 'SlowDown' });
    s3.on(PutPublicAccessBlockCommand).rejects(awsError('OperationAborted', 409));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'conflict', code: 'OperationAborted' });
  });

  it('checks resource ids', () => {
    expect(h.checkResourceId(BUCKET)).toBeNull();
    expect(h.checkResourceId('arn:aws:iam::123456789012:user/bob')).toMatch(/not an S3 bucket name/);
    expect(h.checkResourceId('Upper_Case')).not.toBeNull();
    expect(h.checkResourceId('192.168.1.1')).not.toBeNull();
  });
});
