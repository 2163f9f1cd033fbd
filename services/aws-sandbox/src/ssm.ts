import { randomUUID } from 'node:crypto';
import type { SandboxContext, ServiceHandler } from './context';
import type { CommandInvocation, CommandStatus, RegionState, SsmCommand } from './state';
import { AwsError, type SandboxRequest, header, jsonResponse } from './wire';

const DOCUMENTS = ['AWS-RunPatchBaseline', 'AWS-RunShellScript', 'AWS-RunPowerShellScript'];
const JSON_11 = { 'content-type': 'application/x-amz-json-1.1' };
const secs = (t: number) => t / 1000;

type Body = Record<string, unknown>;

function parseBody(req: SandboxRequest): Body {
  try {
    const v: unknown = JSON.parse(req.body.toString('utf8') || '{}');
    if (typeof v === 'object' && v !== null) return v as Body;
  } catch {
    // reported below
  }
  throw new AwsError('SerializationException', 'Could not parse the request body');
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Where an invocation is now: Pending for the first fifth of its run, InProgress, then its outcome. */
function invocationStatus(cmd: SsmCommand, inv: CommandInvocation, now: number): CommandStatus {
  const elapsed = now - cmd.requestedAt;
  if (elapsed >= inv.durationMs) return inv.outcome;
  return elapsed < inv.durationMs / 5 ? 'Pending' : 'InProgress';
}

/** Applies finished patch runs to the instances' patch state (lazily, on the next SSM call). */
export function settleCommands(r: RegionState, now: number): void {
  for (const cmd of r.commands) {
    for (const inv of cmd.invocations) {
      if (inv.settled || now - cmd.requestedAt < inv.durationMs) continue;
      inv.settled = true;
      const instance = r.instances.get(inv.instanceId);
      if (!instance || cmd.documentName !== 'AWS-RunPatchBaseline') continue;
      const p = instance.patch;
      const operation = cmd.parameters.Operation?.[0] === 'Install' ? 'Install' : 'Scan';
      Object.assign(p, { operation, operationStart: cmd.requestedAt, operationEnd: cmd.requestedAt + inv.durationMs });
      if (operation === 'Install' && inv.outcome === 'Success') {
        p.installed += p.missing + p.failed;
        p.missing = 0;
        p.failed = 0;
      }
    }
  }
}

function commandStatus(cmd: SsmCommand, now: number): { status: CommandStatus; completed: number; errors: number } {
  const all = cmd.invocations.map((i) => invocationStatus(cmd, i, now));
  const done = all.filter((s) => s !== 'Pending' && s !== 'InProgress');
  const failed = done.filter((s) => s !== 'Success');
  let status: CommandStatus = all.includes('InProgress') ? 'InProgress' : 'Pending';
  if (done.length === all.length) status = failed[0] ?? 'Success';
  return { status, completed: done.length, errors: failed.length };
}

function commandJson(cmd: SsmCommand, now: number) {
  const s = commandStatus(cmd, now);
  return {
    CommandId: cmd.commandId,
    DocumentName: cmd.documentName,
    DocumentVersion: '$DEFAULT',
    Comment: cmd.comment,
    ExpiresAfter: secs(cmd.requestedAt + cmd.timeoutSeconds * 1000),
    Parameters: cmd.parameters,
    InstanceIds: cmd.invocations.map((i) => i.instanceId),
    Targets: [],
    RequestedDateTime: secs(cmd.requestedAt),
    Status: s.status,
    StatusDetails: s.status,
    MaxConcurrency: '50',
    MaxErrors: '0',
    TargetCount: cmd.invocations.length,
    CompletedCount: s.completed,
    ErrorCount: s.errors,
    DeliveryTimedOutCount: 0,
    TimeoutSeconds: cmd.timeoutSeconds,
  };
}

function sendCommand(b: Body, r: RegionState, ctx: SandboxContext) {
  const doc = typeof b.DocumentName === 'string' ? b.DocumentName : '';
  if (!DOCUMENTS.includes(doc)) throw new AwsError('InvalidDocument', `Document ${doc} does not exist in the account.`);
  const ids = strings(b.InstanceIds);
  if (!ids.length) throw new AwsError('InvalidInstanceId', 'At least one instance id is required');
  const bad = ids.filter((id) => r.instances.get(id)?.state !== 'running');
  if (bad.length) {
    throw new AwsError(
      'InvalidInstanceId',
      `Instances [[${bad.join(', ')}]] not in a valid state for account ${ctx.state.accountId}`,
    );
  }
  const params: Record<string, string[]> = {};
  if (typeof b.Parameters === 'object' && b.Parameters !== null) {
    for (const [k, v] of Object.entries(b.Parameters)) params[k] = strings(v);
  }
  if (doc === 'AWS-RunPatchBaseline' && !['Scan', 'Install'].includes(params.Operation?.[0] ?? '')) {
    throw new AwsError('InvalidParameters', 'Parameter "Operation" must be Scan or Install.');
  }
  const timeout = typeof b.TimeoutSeconds === 'number' ? b.TimeoutSeconds : 3600;
  if (timeout < 30 || timeout > 2_592_000)
    throw new AwsError('ValidationException', 'TimeoutSeconds must be between 30 and 2592000');
  const behaviour = ctx.behaviour;
  const cmd: SsmCommand = {
    commandId: randomUUID(),
    documentName: doc,
    parameters: params,
    comment: typeof b.Comment === 'string' ? b.Comment : '',
    timeoutSeconds: timeout,
    requestedAt: ctx.now(),
    invocations: ids.map((instanceId) => ({
      instanceId,
      outcome: behaviour.ssmInstanceOutcomes.get(instanceId) ?? behaviour.ssmOutcome,
      durationMs: behaviour.ssmCommandMs,
      settled: false,
    })),
  };
  r.commands.push(cmd);
  return { Command: commandJson(cmd, cmd.requestedAt) };
}

function invocation(b: Body, r: RegionState, now: number) {
  const cmd = r.commands.find((c) => c.commandId === b.CommandId);
  const inv = cmd?.invocations.find((i) => i.instanceId === b.InstanceId);
  if (!cmd || !inv) throw new AwsError('InvocationDoesNotExist', 'An error occurred (InvocationDoesNotExist)');
  const status = invocationStatus(cmd, inv, now);
  const started = status !== 'Pending';
  const ended = started && status !== 'InProgress';
  const iso = (t: number) => new Date(t).toISOString();
  const out: Record<string, string> = { Success: 'Patch operation completed.\n', Failed: 'Patch operation failed.\n' };
  return {
    CommandId: cmd.commandId,
    InstanceId: inv.instanceId,
    Comment: cmd.comment,
    DocumentName: cmd.documentName,
    DocumentVersion: '$DEFAULT',
    PluginName: cmd.documentName === 'AWS-RunPatchBaseline' ? 'PatchLinux' : 'aws:runShellScript',
    ResponseCode: ended ? (status === 'Success' ? 0 : status === 'Failed' ? 1 : -1) : -1,
    ExecutionStartDateTime: started ? iso(cmd.requestedAt + inv.durationMs / 5) : '',
    ExecutionEndDateTime: ended ? iso(cmd.requestedAt + inv.durationMs) : '',
    ExecutionElapsedTime: ended ? `PT${(inv.durationMs * 0.8) / 1000}S` : '',
    Status: status,
    StatusDetails: status === 'TimedOut' ? 'ExecutionTimedOut' : status,
    StandardOutputContent: ended ? (out[status] ?? '') : '',
    StandardOutputUrl: '',
    StandardErrorContent: status === 'Failed' ? 'failed to install patches\n' : '',
    StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

function patchStates(b: Body, r: RegionState) {
  const ids = strings(b.InstanceIds);
  if (!ids.length || ids.length > 50) throw new AwsError('ValidationException', 'InstanceIds must hold 1 to 50 ids');
  return {
    InstancePatchStates: ids.flatMap((id) => {
      const i = r.instances.get(id);
      if (!i) return [];
      const p = i.patch;
      return [
        {
          InstanceId: id,
          PatchGroup: '',
          BaselineId: p.baselineId,
          InstalledCount: p.installed,
          InstalledOtherCount: p.installedOther,
          InstalledPendingRebootCount: 0,
          InstalledRejectedCount: 0,
          MissingCount: p.missing,
          FailedCount: p.failed,
          UnreportedNotApplicableCount: 0,
          NotApplicableCount: p.notApplicable,
          OperationStartTime: secs(p.operationStart),
          OperationEndTime: secs(p.operationEnd),
          Operation: p.operation,
          RebootOption: 'RebootIfNeeded',
          CriticalNonCompliantCount: p.missing + p.failed > 0 ? 1 : 0,
          SecurityNonCompliantCount: p.missing,
          OtherNonCompliantCount: 0,
        },
      ];
    }),
  };
}

/** SSM Run Command and patch state (JSON 1.1, `X-Amz-Target: AmazonSSM.<Operation>`). */
export const ssm: ServiceHandler = {
  service: 'ssm',
  operation: (req) => (header(req, 'x-amz-target') ?? '').replace(/^AmazonSSM\./, '') || 'Unknown',
  handle(req, ctx) {
    const op = ssm.operation(req);
    const b = parseBody(req);
    const r = ctx.state.region(req.region);
    const now = ctx.now();
    settleCommands(r, now);
    switch (op) {
      case 'SendCommand':
        return jsonResponse(200, sendCommand(b, r, ctx), JSON_11);
      case 'GetCommandInvocation':
        return jsonResponse(200, invocation(b, r, now), JSON_11);
      case 'ListCommands': {
        const cmds = r.commands.filter(
          (c) =>
            (b.CommandId === undefined || c.commandId === b.CommandId) &&
            (b.InstanceId === undefined || c.invocations.some((i) => i.instanceId === b.InstanceId)),
        );
        return jsonResponse(200, { Commands: cmds.map((c) => commandJson(c, now)) }, JSON_11);
      }
      case 'DescribeInstancePatchStates':
        return jsonResponse(200, patchStates(b, r), JSON_11);
      default:
        throw new AwsError('UnknownOperationException', `The sandbox does not emulate AmazonSSM.${op}`);
    }
  },
  error: (err) => jsonResponse(err.status, { __type: err.code, message: err.message }, JSON_11),
  throttled: () => new AwsError('ThrottlingException', 'Rate exceeded', 400),
};
