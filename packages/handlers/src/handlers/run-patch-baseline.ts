import {
  DescribeInstancePatchStatesCommand,
  GetCommandInvocationCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { DEFAULT_TIERS, errorCode, tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, Target } from '../contract';
import { codedError, parseDoc, pollUntil, sendOpts, toJson } from './util';

const State = z.object({
  instance_id: z.string(),
  missing: z.number().int(),
  failed: z.number().int(),
  installed: z.number().int(),
  installed_pending_reboot: z.number().int(),
  /** When the last scan or install reported, so an operator sees how fresh the counts are. */
  last_operation_end: z.string().nullable(),
  /** `Scan` or `Install`: only an Install run of the baseline proves the instance patched. */
  last_operation: z.string().nullable().default(null),
});
type State = z.infer<typeof State>;
const Ops = z.object({
  send_command: z
    .object({
      document: z.literal('AWS-RunPatchBaseline'),
      operation: z.literal('Install'),
      timeout_seconds: z.number(),
    })
    .nullable(),
});

const NAME = 'run-patch-baseline';
const DOCUMENT = 'AWS-RunPatchBaseline';
const COMMAND_TIMEOUT_S = 600;
/** Still running; anything else GetCommandInvocation answers is final. */
const RUNNING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);
/**
 * StatusDetails more precise than Status (Status says only Failed or TimedOut for these): the
 * error carries them so the item, log line and metric show what really happened.
 */
const DETAILED = new Set(['DeliveryTimedOut', 'ExecutionTimedOut', 'Undeliverable', 'Terminated']);

async function readState(ctx: HandlerContext, target: Target): Promise<State> {
  const out = await ctx.clients
    .ssm(target.region)
    .send(new DescribeInstancePatchStatesCommand({ InstanceIds: [target.resource_id] }), sendOpts(ctx));
  const s = out.InstancePatchStates?.find((p) => p.InstanceId === target.resource_id);
  // SSM has compliance data for every managed instance that has been scanned, which a finding about
  // missing patches implies; without any, the instance is unknown to SSM.
  if (!s) {
    throw codedError('InvalidInstanceId', `no patch compliance for ${target.resource_id}: not an SSM managed instance`);
  }
  return {
    instance_id: target.resource_id,
    missing: s.MissingCount ?? 0,
    failed: s.FailedCount ?? 0,
    installed: s.InstalledCount ?? 0,
    installed_pending_reboot: s.InstalledPendingRebootCount ?? 0,
    last_operation_end: s.OperationEndTime?.toISOString() ?? null,
    last_operation: s.Operation ?? null,
  };
}

const compliant = (s: State): boolean => s.missing === 0 && s.failed === 0;
/**
 * A finding says the instance is unpatched; a Scan reporting nothing missing may predate the
 * baseline's newest approvals. Only a baseline Install that left nothing missing makes this a noop.
 */
const patched = (s: State): boolean => compliant(s) && s.last_operation === 'Install';

async function invocation(
  ctx: HandlerContext,
  target: Target,
  commandId: string,
): Promise<GetCommandInvocationCommandOutput | undefined> {
  try {
    return await ctx.clients
      .ssm(target.region)
      .send(new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: target.resource_id }), sendOpts(ctx));
  } catch (err) {
    // Right after SendCommand the invocation may not exist yet.
    if (errorCode(err) === 'InvocationDoesNotExist') return undefined;
    throw err;
  }
}

export const runPatchBaseline: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description:
    'Runs AWS-RunPatchBaseline (Operation=Install) on an instance not yet patched by it (missing or failed patches, or only scanned), waiting for the result.',
  resourceType: 'EC2 or SSM managed instance id (i-… or mi-…)',
  iamActions: ['ssm:DescribeInstancePatchStates', 'ssm:SendCommand', 'ssm:GetCommandInvocation'],

  checkResourceId(id) {
    return /^m?i-[0-9a-f]{8,17}$/.test(id) ? null : `"${id}" is not an instance id (i-… or mi-…)`;
  },

  async inspect(ctx, target) {
    return toJson(await readState(ctx, target));
  },

  plan(stateJson: Json) {
    const state = parseDoc(State, stateJson, `${NAME} state`);
    if (patched(state)) {
      return { noop: true, changes: [], planned_state: toJson(state), ops: toJson({ send_command: null }) };
    }
    const planned: State = {
      ...state,
      missing: 0,
      failed: 0,
      installed: state.installed + state.missing + state.failed,
      last_operation: 'Install',
    };
    const ops = { send_command: { document: DOCUMENT, operation: 'Install', timeout_seconds: COMMAND_TIMEOUT_S } };
    return {
      noop: false,
      changes: [
        `run ${DOCUMENT} (Operation=Install) on ${state.instance_id}: ${state.missing} missing, ${state.failed} failed patches`,
      ],
      planned_state: toJson(planned),
      ops: toJson(ops),
    };
  },

  async apply(ctx, target, plan) {
    const { send_command: cmd } = parseDoc(Ops, plan.ops, `${NAME} ops`);
    if (!cmd) return;
    // Installing again after a crash half-way is harmless: patches already there are skipped.
    const sent = await ctx.clients.ssm(target.region).send(
      new SendCommandCommand({
        InstanceIds: [target.resource_id],
        DocumentName: cmd.document,
        Parameters: { Operation: [cmd.operation] },
        TimeoutSeconds: cmd.timeout_seconds,
        Comment: `aegis ${NAME}`,
      }),
      sendOpts(ctx),
    );
    const commandId = sent.Command?.CommandId;
    if (!commandId) throw codedError('InternalError', `SendCommand returned no command id for ${target.resource_id}`);
    // An abort (tier timeout, cancel) ends this wait; the command itself stays bounded by its own
    // TimeoutSeconds on the instance, since cancelling a package install half-way is riskier.
    const done = await pollUntil(ctx, `${DOCUMENT} command ${commandId}`, DEFAULT_TIERS.T3.timeoutMs, async () => {
      const inv = await invocation(ctx, target, commandId);
      return inv?.Status && !RUNNING.has(inv.Status) ? inv : undefined;
    });
    if (done.Status === 'Success') return;
    const details = done.StatusDetails ?? '';
    const code = DETAILED.has(details) ? details : (done.Status ?? 'Failed');
    throw codedError(code, `${DOCUMENT} on ${target.resource_id} ended ${done.Status} (${details || 'no details'})`);
  },

  async verify(ctx, target) {
    const state = await readState(ctx, target);
    const detail = `${state.missing} missing, ${state.failed} failed, ${state.installed} installed patches`;
    return { compliant: compliant(state), detail };
  },

  rollback: {
    reversible: false,
    reason:
      'installed patches cannot be taken back by SSM: AWS-RunPatchBaseline has no uninstall; restore the instance from a backup or AMI if a patch broke it',
  },
};
