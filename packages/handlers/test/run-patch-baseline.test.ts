import {
  DescribeInstancePatchStatesCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  SSMClient,
  type CommandInvocationStatus,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { runPatchBaseline as h } from '../src/handlers/run-patch-baseline';
import { awsError, classOf, inspectAndPlan, makeCtx, sendOptionsOf, target } from './helpers';

const ssm = mockClient(SSMClient);
const ID = 'i-0abc123def4567890';
const T = target(ID);

function patchState(missing: number, failed: number, installed = 40, operation: 'Scan' | 'Install' = 'Scan') {
  ssm.on(DescribeInstancePatchStatesCommand).resolves({
    InstancePatchStates: [
      {
        InstanceId: ID,
        PatchGroup: 'default',
        BaselineId: 'pb-0123',
        MissingCount: missing,
        FailedCount: failed,
        InstalledCount: installed,
        OperationStartTime: new Date('2026-02-25T00:00:00Z'),
        OperationEndTime: new Date('2026-02-25T00:05:00Z'),
        Operation: operation,
      },
    ],
  });
}

/** SendCommand, then: the invocation is unknown once, in progress twice, then `final`. */
function command(final: CommandInvocationStatus, details: string = final) {
  ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
  ssm
    .on(GetCommandInvocationCommand)
    .rejectsOnce(awsError('InvocationDoesNotExist'))
    .resolvesOnce({ Status: 'Pending', StatusDetails: 'Pending' })
    .resolvesOnce({ Status: 'InProgress', StatusDetails: 'InProgress' })
    .resolves({ Status: final, StatusDetails: details });
}

beforeEach(() => ssm.reset());

describe('run-patch-baseline', () => {
  it('runs the baseline with Operation=Install and 600 s, polls through InvocationDoesNotExist to Success', async () => {
    patchState(5, 1);
    command('Success');
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(state).toEqual({
      instance_id: ID,
      missing: 5,
      failed: 1,
      installed: 40,
      installed_pending_reboot: 0,
      last_operation_end: '2026-02-25T00:05:00.000Z',
      last_operation: 'Scan',
    });
    expect(plan.changes).toEqual([
      `run AWS-RunPatchBaseline (Operation=Install) on ${ID}: 5 missing, 1 failed patches`,
    ]);
    await h.apply(ctx, T, plan, state);
    expect(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input).toMatchObject({
      InstanceIds: [ID],
      DocumentName: 'AWS-RunPatchBaseline',
      Parameters: { Operation: ['Install'] },
      TimeoutSeconds: 600,
    });
    expect(ssm.commandCalls(GetCommandInvocationCommand)).toHaveLength(4);
    expect(ssm.commandCalls(GetCommandInvocationCommand)[0]?.args[0].input).toEqual({
      CommandId: 'cmd-1',
      InstanceId: ID,
    });
    patchState(0, 0, 46);
    expect(await h.verify(ctx, T)).toEqual({ compliant: true, detail: '0 missing, 0 failed, 46 installed patches' });
  });

  it.each([
    ['Failed', 'Failed', 'Failed'],
    ['TimedOut', 'ExecutionTimedOut', 'ExecutionTimedOut'],
    ['TimedOut', 'DeliveryTimedOut', 'DeliveryTimedOut'],
    ['Cancelled', 'Cancelled', 'Cancelled'],
    ['Failed', 'Undeliverable', 'Undeliverable'],
  ] as const)('status %s (%s) fails with code %s', async (status, details, code) => {
    patchState(2, 0);
    command(status, details);
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    const failure = await classOf(h.apply(ctx, T, plan, state));
    expect(failure.code).toBe(code);
  });

  it('a scan with nothing missing still runs the baseline: only an Install proves it patched', async () => {
    patchState(0, 0);
    const { plan } = await inspectAndPlan(h, makeCtx(), T);
    expect(plan.noop).toBe(false);
    expect(plan.planned_state).toMatchObject({ missing: 0, failed: 0, last_operation: 'Install' });
  });

  it('nothing missing after a baseline Install is a noop: nothing is sent', async () => {
    patchState(0, 0, 40, 'Install');
    const ctx = makeCtx();
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    expect(plan).toMatchObject({ noop: true, changes: [] });
    await h.apply(ctx, T, plan, state);
    expect(ssm.commandCalls(SendCommandCommand)).toHaveLength(0);
  });

  it('is irreversible, with a reason', () => {
    expect(h.rollback).toMatchObject({ reversible: false, reason: expect.stringMatching(/no uninstall/) });
  });

  it('the wait for a terminal status ends when the job is aborted', async () => {
    patchState(1, 0);
    ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });
    ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
    const ac = new AbortController();
    const ctx = makeCtx({ signal: ac.signal, settings: { keyMaxAgeDays: 90, pollIntervalMs: 5 } });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    setTimeout(() => ac.abort(), 30);
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'cancelled', code: 'AbortError' });
  });

  it('passes the abort signal; errors keep their codes', async () => {
    patchState(1, 0);
    command('Success');
    const signal = new AbortController().signal;
    const ctx = makeCtx({ signal });
    const { state, plan } = await inspectAndPlan(h, ctx, T);
    await h.apply(ctx, T, plan, state);
    for (const c of ssm.calls()) expect(sendOptionsOf(c)).toEqual({ abortSignal: signal });

    ssm.on(SendCommandCommand).rejects(awsError('AccessDeniedException', 400));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'permanent', code: 'AccessDeniedException' });
    ssm.on(SendCommandCommand).rejects(awsError('ThrottlingException', 400));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'throttled', code: 'ThrottlingException' });
    ssm.on(SendCommandCommand).rejects(awsError('InvalidInstanceId', 400));
    expect(await classOf(h.apply(ctx, T, plan, state))).toEqual({ class: 'not_found', code: 'InvalidInstanceId' });
    ssm.on(DescribeInstancePatchStatesCommand).resolves({ InstancePatchStates: [] });
    expect(await classOf(h.inspect(ctx, T))).toEqual({ class: 'not_found', code: 'InvalidInstanceId' });
  });

  it('checks resource ids', () => {
    expect(h.checkResourceId(ID)).toBeNull();
    expect(h.checkResourceId('mi-0123456789abcdef0')).toBeNull();
    expect(h.checkResourceId('my-bucket')).toMatch(/not an instance id/);
  });
});
