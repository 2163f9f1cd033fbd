import {
  GetAccessKeyLastUsedCommand,
  IAMClient,
  ListAccessKeysCommand,
  UpdateAccessKeyCommand,
  type StatusType,
} from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { rotateIamKeys as h, userNameOf } from '../src/handlers/rotate-iam-keys';
import { DAY_MS, NOW, awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const iam = mockClient(IAMClient);
const ARN = 'arn:aws:iam::123456789012:user/service/ci/svc-aegis';

interface FakeKey {
  id: string;
  status: StatusType;
  ageDays: number;
  lastUsed?: { daysAgo: number; service: string };
}

/** One user's access keys as IAM keeps them; any other user name is NoSuchEntity. */
function fakeUser(user: string, keys: FakeKey[]) {
  const byId = new Map(keys.map((k) => [k.id, { ...k }]));
  iam.on(ListAccessKeysCommand).callsFake((input: { UserName: string }) => {
    if (input.UserName !== user) throw awsError('NoSuchEntity', 404);
    return {
      AccessKeyMetadata: [...byId.values()].map((k) => ({
        UserName: user,
        AccessKeyId: k.id,
        Status: k.status,
        CreateDate: new Date(NOW.getTime() - k.ageDays * DAY_MS - 1000),
      })),
      IsTruncated: false,
    };
  });
  iam.on(GetAccessKeyLastUsedCommand).callsFake((input: { AccessKeyId: string }) => {
    const k = byId.get(input.AccessKeyId);
    return {
      UserName: user,
      AccessKeyLastUsed: k?.lastUsed
        ? {
            LastUsedDate: new Date(NOW.getTime() - k.lastUsed.daysAgo * DAY_MS),
            ServiceName: k.lastUsed.service,
            Region: 'us-east-1',
          }
        : { ServiceName: 'N/A', Region: 'N/A' },
    };
  });
  iam.on(UpdateAccessKeyCommand).callsFake((input: { UserName: string; AccessKeyId: string; Status: StatusType }) => {
    const k = byId.get(input.AccessKeyId);
    if (input.UserName !== user || !k) throw awsError('NoSuchEntity', 404);
    k.status = input.Status;
    return {};
  });
  return { status: (id: string) => byId.get(id)?.status };
}

const KEYS: FakeKey[] = [
  { id: 'AKIAOLDACTIVE0000001', status: 'Active', ageDays: 200, lastUsed: { daysAgo: 3, service: 's3' } },
  { id: 'AKIANEWACTIVE0000002', status: 'Active', ageDays: 10 },
  { id: 'AKIAOLDINACTIVE00003', status: 'Inactive', ageDays: 400 },
];

beforeEach(() => iam.reset());

describe('rotate-iam-keys', () => {
  it('reads the user name off an ARN with a path, or takes a plain name', () => {
    expect(userNameOf(ARN)).toBe('svc-aegis');
    expect(userNameOf('arn:aws:iam::123456789012:user/bob')).toBe('bob');
    expect(userNameOf('svc-aegis')).toBe('svc-aegis');
    expect(userNameOf('arn:aws:iam::123456789012:role/admin')).toBeNull();
    expect(h.checkResourceId('arn:aws:s3:::my-bucket')).toMatch(/not an IAM user/);
    expect(h.checkResourceId(ARN)).toBeNull();
  });

  it('threshold 90: deactivates only the active key older than 90 days, listing age and last use', async () => {
    const user = fakeUser('svc-aegis', KEYS);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, target(ARN));
    expect(plan.changes).toEqual([
      'deactivate access key AKIAOLDACTIVE0000001 (200 days old, last used 2026-02-23 (s3)) of svc-aegis',
    ]);
    expect(plan.ops).toEqual({ deactivate: ['AKIAOLDACTIVE0000001'] });
    await h.apply(ctx, target(ARN), plan, state);
    expect(iam.commandCalls(UpdateAccessKeyCommand).map((c) => c.args[0].input)).toEqual([
      { UserName: 'svc-aegis', AccessKeyId: 'AKIAOLDACTIVE0000001', Status: 'Inactive' },
    ]);
    expect(user.status('AKIANEWACTIVE0000002')).toBe('Active');
    expect(await h.verify(ctx, target(ARN))).toMatchObject({ compliant: true });
  });

  it('threshold 0 (incident): deactivates every active key; rollback reactivates exactly those', async () => {
    const user = fakeUser('svc-aegis', KEYS);
    const ctx = makeCtx({ settings: { keyMaxAgeDays: 0, pollIntervalMs: 1 } });
    const t = target('svc-aegis');
    const { state, plan } = await inspectAndPlan(h, ctx, t);
    expect(plan.ops).toEqual({ deactivate: ['AKIANEWACTIVE0000002', 'AKIAOLDACTIVE0000001'] });
    expect(plan.changes[0]).toMatch(/AKIANEWACTIVE0000002 \(10 days old, never used\)/);
    await h.apply(ctx, t, plan, state);
    await h.apply(ctx, t, plan, state);
    expect(await h.verify(ctx, t)).toMatchObject({ compliant: true });

    if (!h.rollback.reversible) throw new Error('reversible');
    const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
    expect(h.rollback.drifted(await h.inspect(ctx, t), input)).toBeNull();
    iam.resetHistory();
    await h.rollback.restore(ctx, t, input);
    await h.rollback.restore(ctx, t, input);
    expect(iam.commandCalls(UpdateAccessKeyCommand).map((c) => c.args[0].input.AccessKeyId)).toEqual([
      'AKIANEWACTIVE0000002',
      'AKIAOLDACTIVE0000001',
      'AKIANEWACTIVE0000002',
      'AKIAOLDACTIVE0000001',
    ]);
    expect(user.status('AKIAOLDINACTIVE00003')).toBe('Inactive');
    expect(await h.inspect(ctx, t)).toEqual(state);
    expect(h.rollback.drifted(state, input)).toMatch(/AKIANEWACTIVE0000002=Active/);
  });

  it('a user whose keys are all recent or inactive is a noop', async () => {
    fakeUser('svc-aegis', [KEYS[1] as FakeKey, KEYS[2] as FakeKey]);
    const { plan } = await inspectAndPlan(h, makeCtx(), target(ARN));
    expect(plan).toMatchObject({ noop: true, changes: [], ops: { deactivate: [] } });
  });

  it('a key just under 90 days old stays; one just over goes', async () => {
    fakeUser('svc-aegis', [
      { id: 'AKIAUNDER90DAYS00001', status: 'Active', ageDays: 89 },
      { id: 'AKIAOVER90DAYS000002', status: 'Active', ageDays: 90 },
    ]);
    const { plan } = await inspectAndPlan(h, makeCtx(), target(ARN));
    expect(plan.ops).toEqual({ deactivate: ['AKIAOVER90DAYS000002'] });
  });

  it('verify reports a stale key still active', async () => {
    fakeUser('svc-aegis', KEYS);
    expect(await h.verify(makeCtx(), target(ARN))).toMatchObject({
      compliant: false,
      detail: expect.stringMatching(/still active: AKIAOLDACTIVE0000001/),
    });
  });

  it('passes the abort signal; errors keep their codes', async () => {
    fakeUser('svc-aegis', KEYS);
    const signal = new AbortController().signal;
    const ctx = makeCtx({ signal });
    const { state, plan } = await inspectAndPlan(h, ctx, target(ARN));
    await h.apply(ctx, target(ARN), plan, state);
    for (const c of iam.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });

    expect(await classOf(h.inspect(ctx, target('nobody')))).toEqual({ class: 'not_found', code: 'NoSuchEntity' });
    iam.on(UpdateAccessKeyCommand).rejects(awsError('AccessDenied', 403));
    expect(await classOf(h.apply(ctx, target(ARN), plan, state))).toEqual({ class: 'permanent', code: 'AccessDenied' });
    iam.on(UpdateAccessKeyCommand).rejects(awsError('Throttling', 400));
    expect(await classOf(h.apply(ctx, target(ARN), plan, state))).toEqual({ class: 'throttled', code: 'Throttling' });
    iam.on(UpdateAccessKeyCommand).rejects(awsError('ConcurrentModification', 409));
    expect(await classOf(h.apply(ctx, target(ARN), plan, state))).toEqual({
      class: 'conflict',
      code: 'ConcurrentModification',
    });
  });
});
