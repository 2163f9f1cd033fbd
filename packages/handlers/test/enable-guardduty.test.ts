import {
  CreateDetectorCommand,
  DeleteDetectorCommand,
  GetDetectorCommand,
  GuardDutyClient,
  ListDetectorsCommand,
  UpdateDetectorCommand,
  type FindingPublishingFrequency,
} from '@aws-sdk/client-guardduty';
import { mockClient } from 'aws-sdk-client-mock';
import { enableGuardduty as h } from '../src/handlers/enable-guardduty';
import { awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const gd = mockClient(GuardDutyClient);
const ACCOUNT = '123456789012';
const T = target(ACCOUNT, 'eu-central-1');

interface FakeDetector {
  Status: 'ENABLED' | 'DISABLED';
  FindingPublishingFrequency: FindingPublishingFrequency;
}

/** The detectors of one region, as GuardDuty keeps them. */
function fakeRegion(initial: FakeDetector | undefined) {
  const detectors = new Map<string, FakeDetector>();
  let n = 0;
  if (initial) detectors.set('d-existing', { ...initial });
  gd.on(ListDetectorsCommand).callsFake(() => ({ DetectorIds: [...detectors.keys()] }));
  gd.on(GetDetectorCommand).callsFake((input: { DetectorId: string }) => {
    const d = detectors.get(input.DetectorId);
    if (!d) throw awsError('BadRequestException');
    return { ...d, ServiceRole: 'x', CreatedAt: '2026-01-01T00:00:00Z' };
  });
  gd.on(CreateDetectorCommand).callsFake(
    (input: { Enable: boolean; FindingPublishingFrequency?: FindingPublishingFrequency }) => {
      if (detectors.size) throw awsError('BadRequestException');
      const id = `d-created-${++n}`;
      detectors.set(id, {
        Status: input.Enable ? 'ENABLED' : 'DISABLED',
        FindingPublishingFrequency: input.FindingPublishingFrequency ?? 'SIX_HOURS',
      });
      return { DetectorId: id };
    },
  );
  gd.on(UpdateDetectorCommand).callsFake(
    (input: { DetectorId: string; Enable?: boolean; FindingPublishingFrequency?: FindingPublishingFrequency }) => {
      const d = detectors.get(input.DetectorId);
      if (!d) throw awsError('BadRequestException');
      if (input.Enable !== undefined) d.Status = input.Enable ? 'ENABLED' : 'DISABLED';
      if (input.FindingPublishingFrequency) d.FindingPublishingFrequency = input.FindingPublishingFrequency;
      return {};
    },
  );
  gd.on(DeleteDetectorCommand).callsFake((input: { DetectorId: string }) => {
    if (!detectors.delete(input.DetectorId)) throw awsError('BadRequestException');
    return {};
  });
  return detectors;
}

async function applyAndRollBack(detectors: Map<string, FakeDetector>) {
  const ctx = makeCtx();
  const { state, plan } = await inspectAndPlan(h, ctx, T);
  await h.apply(ctx, T, plan, state);
  const verified = await h.verify(ctx, T);
  const after = new Map([...detectors].map(([k, v]) => [k, { ...v }]));
  if (!h.rollback.reversible) throw new Error('reversible');
  const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
  const drift = h.rollback.drifted(await h.inspect(ctx, T), input);
  await h.rollback.restore(ctx, T, input);
  await h.rollback.restore(ctx, T, input);
  return { ctx, state, plan, verified, after, drift, restored: await h.inspect(ctx, T) };
}

beforeEach(() => gd.reset());

describe('enable-guardduty', () => {
  it('no detector: creates one (enabled, 15 minutes) in the target region; rollback deletes it', async () => {
    const detectors = fakeRegion(undefined);
    const r = await applyAndRollBack(detectors);
    expect(r.state).toEqual({ account_id: ACCOUNT, region: 'eu-central-1', detector: null });
    expect(r.plan.changes).toEqual([
      `create a GuardDuty detector in ${ACCOUNT} eu-central-1, enabled, publishing every 15 minutes`,
    ]);
    expect(gd.commandCalls(CreateDetectorCommand)[0]?.args[0].input).toEqual({
      Enable: true,
      FindingPublishingFrequency: 'FIFTEEN_MINUTES',
    });
    expect(gd.commandCalls(CreateDetectorCommand)[0]?.thisValue).toBe(r.ctx.clients.guardduty('eu-central-1'));
    expect(r.verified).toEqual({
      compliant: true,
      detail: 'detector d-created-1 enabled, publishing every 15 minutes',
    });
    expect([...r.after.keys()]).toEqual(['d-created-1']);
    expect(r.drift).toBeNull();
    expect(detectors.size).toBe(0);
    expect(r.restored).toEqual(r.state);
    expect(gd.commandCalls(DeleteDetectorCommand)).toHaveLength(1);
  });

  it('a disabled detector is enabled, never a second one created; rollback disables it with its old frequency', async () => {
    const detectors = fakeRegion({ Status: 'DISABLED', FindingPublishingFrequency: 'SIX_HOURS' });
    const r = await applyAndRollBack(detectors);
    expect(r.plan.changes).toEqual([
      `enable GuardDuty detector d-existing in ${ACCOUNT} eu-central-1`,
      'set finding publishing frequency to FIFTEEN_MINUTES (was SIX_HOURS)',
    ]);
    expect(gd.commandCalls(CreateDetectorCommand)).toHaveLength(0);
    expect(r.after.get('d-existing')).toEqual({ Status: 'ENABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' });
    expect(r.verified.compliant).toBe(true);
    expect(detectors.get('d-existing')).toEqual({ Status: 'DISABLED', FindingPublishingFrequency: 'SIX_HOURS' });
    expect(r.restored).toEqual(r.state);
    expect(gd.commandCalls(DeleteDetectorCommand)).toHaveLength(0);
  });

  it('an enabled detector publishing every 15 minutes is a noop', async () => {
    fakeRegion({ Status: 'ENABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' });
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan).toMatchObject({ noop: true, changes: [] });
    await h.apply(ctx, T, plan, state);
    expect(gd.commandCalls(UpdateDetectorCommand)).toHaveLength(0);
    expect(gd.commandCalls(CreateDetectorCommand)).toHaveLength(0);
  });

  it('an enabled detector publishing hourly gets 15 minutes; rollback puts ONE_HOUR back and keeps it enabled', async () => {
    const detectors = fakeRegion({ Status: 'ENABLED', FindingPublishingFrequency: 'ONE_HOUR' });
    const r = await applyAndRollBack(detectors);
    expect(r.plan.changes).toEqual(['set finding publishing frequency to FIFTEEN_MINUTES (was ONE_HOUR)']);
    expect(detectors.get('d-existing')).toEqual({ Status: 'ENABLED', FindingPublishingFrequency: 'ONE_HOUR' });
  });

  it('apply after a crash half-way (detector already created) updates it instead of creating a second', async () => {
    const detectors = fakeRegion(undefined);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    await h.apply(ctx, T, plan, state);
    expect(detectors.size).toBe(1);
    expect(gd.commandCalls(CreateDetectorCommand)).toHaveLength(1);
  });

  it('drift: the detector we enabled was disabled again by someone', async () => {
    const detectors = fakeRegion({ Status: 'DISABLED', FindingPublishingFrequency: 'SIX_HOURS' });
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    detectors.set('d-existing', { Status: 'DISABLED', FindingPublishingFrequency: 'FIFTEEN_MINUTES' });
    if (!h.rollback.reversible) throw new Error('reversible');
    const input = { previous_state: state, planned_state: plan.planned_state, ops: plan.ops };
    expect(h.rollback.drifted(await h.inspect(ctx, T), input)).toMatch(/DISABLED FIFTEEN_MINUTES/);
    detectors.clear();
    expect(h.rollback.drifted(await h.inspect(ctx, T), input)).toMatch(/deleted/);
  });

  it('passes the abort signal; errors keep their codes', async () => {
    fakeRegion(undefined);
    const signal = new AbortController().signal;
    const ctx = makeCtx({ signal });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    expect(gd.calls().length).toBeGreaterThan(2);
    for (const c of gd.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });

    gd.on(ListDetectorsCommand).rejects(awsError('AccessDeniedException', 403));
    expect(await classOf(h.inspect(ctx, T))).toEqual({ class: 'permanent', code: 'AccessDeniedException' });
    gd.on(ListDetectorsCommand).rejects(awsError('TooManyRequestsException', 429));
    expect(await classOf(h.inspect(ctx, T))).toEqual({ class: 'throttled', code: 'TooManyRequestsException' });
    gd.on(ListDetectorsCommand).resolves({ DetectorIds: [] });
    gd.on(CreateDetectorCommand).rejects(awsError('ConflictException', 409));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'conflict', code: 'ConflictException' });
  });

  it('checks resource ids', () => {
    expect(h.checkResourceId(ACCOUNT)).toBeNull();
    expect(h.checkResourceId('my-bucket')).toMatch(/not an AWS account id/);
    expect(h.checkResourceId('12345')).not.toBeNull();
  });
});
