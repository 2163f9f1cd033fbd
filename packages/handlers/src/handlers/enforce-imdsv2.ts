import { DescribeInstancesCommand, ModifyInstanceMetadataOptionsCommand } from '@aws-sdk/client-ec2';
import { DEFAULT_TIERS, tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, Target } from '../contract';
import { codedError, parseDoc, pollUntil, sendOpts, toJson } from './util';

const Options = z.object({
  http_tokens: z.enum(['optional', 'required']),
  http_endpoint: z.enum(['enabled', 'disabled']),
  hop_limit: z.number().int(),
});
type Options = z.infer<typeof Options>;
const State = Options.extend({ instance_id: z.string(), instance_state: z.string() });
type State = z.infer<typeof State>;
const Ops = z.object({
  modify: z.object({ http_tokens: z.literal('required'), http_endpoint: z.literal('enabled') }).nullable(),
});

const NAME = 'enforce-imdsv2';
/** Instances on their way out: their metadata options cannot (and need not) be changed. */
const GONE = new Set(['terminated', 'shutting-down']);
/** Only a caller without an abort signal relies on this; a worker's tier timeout ends the wait first. */
const MAX_WAIT_MS = DEFAULT_TIERS.T2.timeoutMs;

interface Read {
  state: State;
  /** `pending` while EC2 is still rolling new options out to the instance. */
  applied: boolean;
}

async function readInstance(ctx: HandlerContext, target: Target): Promise<Read> {
  const out = await ctx.clients
    .ec2(target.region)
    .send(new DescribeInstancesCommand({ InstanceIds: [target.resource_id] }), sendOpts(ctx));
  const inst = (out.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .find((i) => i.InstanceId === target.resource_id);
  if (!inst) throw codedError('InvalidInstanceID.NotFound', `instance ${target.resource_id} does not exist`);
  const m = inst.MetadataOptions ?? {};
  return {
    state: {
      instance_id: target.resource_id,
      instance_state: inst.State?.Name ?? 'unknown',
      // EC2's defaults for an instance launched without explicit options.
      http_tokens: m.HttpTokens ?? 'optional',
      http_endpoint: m.HttpEndpoint ?? 'enabled',
      hop_limit: m.HttpPutResponseHopLimit ?? 1,
    },
    applied: m.State === undefined || m.State === 'applied',
  };
}

const options = (s: Options): Options => ({
  http_tokens: s.http_tokens,
  http_endpoint: s.http_endpoint,
  hop_limit: s.hop_limit,
});
const sameOptions = (a: Options, b: Options): boolean => JSON.stringify(options(a)) === JSON.stringify(options(b));
const compliant = (s: Options): boolean => s.http_tokens === 'required' && s.http_endpoint === 'enabled';

/** Modifies the options, then waits until EC2 reports them applied with exactly the values asked for. */
async function setOptions(
  ctx: HandlerContext,
  target: Target,
  want: { http_tokens: Options['http_tokens']; http_endpoint: Options['http_endpoint']; hop_limit?: number },
): Promise<void> {
  await ctx.clients.ec2(target.region).send(
    new ModifyInstanceMetadataOptionsCommand({
      InstanceId: target.resource_id,
      HttpTokens: want.http_tokens,
      HttpEndpoint: want.http_endpoint,
      // Left out when enforcing, so EC2 keeps whatever hop limit the instance has.
      ...(want.hop_limit === undefined ? {} : { HttpPutResponseHopLimit: want.hop_limit }),
    }),
    sendOpts(ctx),
  );
  await pollUntil(ctx, `metadata options of ${target.resource_id}`, MAX_WAIT_MS, async () => {
    const r = await readInstance(ctx, target);
    const matches =
      r.state.http_tokens === want.http_tokens &&
      r.state.http_endpoint === want.http_endpoint &&
      (want.hop_limit === undefined || r.state.hop_limit === want.hop_limit);
    return r.applied && matches ? true : undefined;
  });
}

export const enforceImdsv2: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description:
    'Requires IMDSv2 session tokens on an instance (HttpTokens=required, HttpEndpoint=enabled), keeping its hop limit.',
  resourceType: 'EC2 instance id (i-…)',
  iamActions: ['ec2:DescribeInstances', 'ec2:ModifyInstanceMetadataOptions'],

  checkResourceId(id) {
    return /^i-[0-9a-f]{8,17}$/.test(id)
      ? null
      : `"${id}" is not an EC2 instance id (i- followed by 8 or 17 hex digits)`;
  },

  async inspect(ctx, target) {
    return toJson((await readInstance(ctx, target)).state);
  },

  plan(stateJson: Json) {
    const state = parseDoc(State, stateJson, `${NAME} state`);
    const none = { noop: true, changes: [], planned_state: toJson(state), ops: toJson({ modify: null }) };
    if (GONE.has(state.instance_state)) {
      return { ...none, skip_reason: `instance ${state.instance_id} is ${state.instance_state}` };
    }
    if (compliant(state)) return none;
    const changes: string[] = [];
    if (state.http_tokens !== 'required')
      changes.push(`set HttpTokens=required on ${state.instance_id} (was optional)`);
    if (state.http_endpoint !== 'enabled')
      changes.push(`set HttpEndpoint=enabled on ${state.instance_id} (was disabled)`);
    const planned: State = { ...state, http_tokens: 'required', http_endpoint: 'enabled' };
    const ops = { modify: { http_tokens: 'required', http_endpoint: 'enabled' } };
    return { noop: false, changes, planned_state: toJson(planned), ops: toJson(ops) };
  },

  async apply(ctx, target, plan) {
    const ops = parseDoc(Ops, plan.ops, `${NAME} ops`);
    if (ops.modify) await setOptions(ctx, target, ops.modify);
  },

  async verify(ctx, target) {
    const { state, applied } = await readInstance(ctx, target);
    if (GONE.has(state.instance_state)) {
      return { compliant: true, detail: `instance is ${state.instance_state}: no metadata service left to protect` };
    }
    const detail = `HttpTokens=${state.http_tokens}, HttpEndpoint=${state.http_endpoint}, hop limit ${state.hop_limit}`;
    return { compliant: compliant(state) && applied, detail: applied ? detail : `${detail} (still pending)` };
  },

  rollback: {
    reversible: true,
    drifted(currentJson, input) {
      const current = parseDoc(State, currentJson, `${NAME} current state`);
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
      if (sameOptions(current, planned)) return null;
      return `metadata options changed since the remediation: now HttpTokens=${current.http_tokens}, HttpEndpoint=${current.http_endpoint}, hop limit ${current.hop_limit}`;
    },
    async restore(ctx, target, input) {
      const previous = parseDoc(State, input.previous_state, `${NAME} previous state`);
      await setOptions(ctx, target, options(previous));
    },
  },
};
