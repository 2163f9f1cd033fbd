import {
  DeletePublicAccessBlockCommand,
  GetBucketLocationCommand,
  GetPublicAccessBlockCommand,
  PutPublicAccessBlockCommand,
} from '@aws-sdk/client-s3';
import { errorCode, tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, Target } from '../contract';
import { parseDoc, sendOpts, toJson } from './util';

const FLAGS = ['BlockPublicAcls', 'IgnorePublicAcls', 'BlockPublicPolicy', 'RestrictPublicBuckets'] as const;
const Flags = z.object({
  BlockPublicAcls: z.boolean(),
  IgnorePublicAcls: z.boolean(),
  BlockPublicPolicy: z.boolean(),
  RestrictPublicBuckets: z.boolean(),
});
type Flags = z.infer<typeof Flags>;
const ALL_ON: Flags = {
  BlockPublicAcls: true,
  IgnorePublicAcls: true,
  BlockPublicPolicy: true,
  RestrictPublicBuckets: true,
};

/** `config: null` is a bucket with no PublicAccessBlock at all, which rollback must bring back by deleting ours. */
const State = z.object({ bucket: z.string(), region: z.string(), config: Flags.nullable() });
type State = z.infer<typeof State>;
const Ops = z.object({ region: z.string(), put: Flags.nullable() });

const NAME = 's3-block-public-access';

/**
 * The bucket's own region: S3 refuses a PublicAccessBlock call sent to another region's endpoint.
 * An empty LocationConstraint is us-east-1 and the legacy "EU" is eu-west-1.
 */
async function bucketRegion(ctx: HandlerContext, target: Target): Promise<string> {
  const out = await ctx.clients
    .s3(target.region)
    .send(new GetBucketLocationCommand({ Bucket: target.resource_id }), sendOpts(ctx));
  const loc: string = out.LocationConstraint ?? '';
  if (loc === '') return 'us-east-1';
  if (loc === 'EU') return 'eu-west-1';
  return loc;
}

async function readConfig(ctx: HandlerContext, bucket: string, region: string): Promise<Flags | null> {
  try {
    const out = await ctx.clients.s3(region).send(new GetPublicAccessBlockCommand({ Bucket: bucket }), sendOpts(ctx));
    const c = out.PublicAccessBlockConfiguration ?? {};
    // S3 omits a flag that is off; an absent flag is false, as S3 enforces it.
    return {
      BlockPublicAcls: c.BlockPublicAcls === true,
      IgnorePublicAcls: c.IgnorePublicAcls === true,
      BlockPublicPolicy: c.BlockPublicPolicy === true,
      RestrictPublicBuckets: c.RestrictPublicBuckets === true,
    };
  } catch (err) {
    if (errorCode(err) === 'NoSuchPublicAccessBlockConfiguration') return null;
    throw err;
  }
}

async function readState(ctx: HandlerContext, target: Target): Promise<State> {
  const region = await bucketRegion(ctx, target);
  return { bucket: target.resource_id, region, config: await readConfig(ctx, target.resource_id, region) };
}

const allOn = (c: Flags | null): boolean => c !== null && FLAGS.every((f) => c[f]);

async function put(ctx: HandlerContext, bucket: string, region: string, flags: Flags): Promise<void> {
  await ctx.clients
    .s3(region)
    .send(new PutPublicAccessBlockCommand({ Bucket: bucket, PublicAccessBlockConfiguration: flags }), sendOpts(ctx));
}

export const s3BlockPublicAccess: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description: "Turns on all four of a bucket's S3 Block Public Access flags.",
  resourceType: 'S3 bucket name',
  // DeletePublicAccessBlock (rollback of a bucket that had none) is authorised by s3:PutBucketPublicAccessBlock.
  iamActions: ['s3:GetBucketLocation', 's3:GetBucketPublicAccessBlock', 's3:PutBucketPublicAccessBlock'],

  checkResourceId(id) {
    const ok = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(id) && !id.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(id);
    return ok ? null : `"${id}" is not an S3 bucket name (3-63 lowercase letters, digits, "." and "-")`;
  },

  async inspect(ctx, target) {
    return toJson(await readState(ctx, target));
  },

  plan(stateJson: Json) {
    const state = parseDoc(State, stateJson, `${NAME} state`);
    const planned: State = { ...state, config: ALL_ON };
    if (allOn(state.config)) {
      return {
        noop: true,
        changes: [],
        planned_state: toJson(state),
        ops: toJson({ region: state.region, put: null }),
      };
    }
    const ops = { region: state.region, put: ALL_ON };
    const changes =
      state.config === null
        ? [`create a PublicAccessBlock on ${state.bucket} with all four flags true (the bucket has none)`]
        : FLAGS.filter((f) => !state.config?.[f]).map((f) => `set ${f}=true on ${state.bucket} (was false)`);
    return { noop: false, changes, planned_state: toJson(planned), ops: toJson(ops) };
  },

  async apply(ctx, target, plan) {
    const ops = parseDoc(Ops, plan.ops, `${NAME} ops`);
    if (ops.put) await put(ctx, target.resource_id, ops.region, ops.put);
  },

  async verify(ctx, target) {
    const state = await readState(ctx, target);
    if (allOn(state.config)) return { compliant: true, detail: 'all four PublicAccessBlock flags are true' };
    const off = state.config === null ? ['no PublicAccessBlock'] : FLAGS.filter((f) => !state.config?.[f]);
    return { compliant: false, detail: `not blocked: ${off.join(', ')}` };
  },

  rollback: {
    reversible: true,
    drifted(currentJson, input) {
      const current = parseDoc(State, currentJson, `${NAME} current state`);
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
      if (JSON.stringify(current.config) === JSON.stringify(planned.config)) return null;
      return `PublicAccessBlock changed since the remediation: now ${JSON.stringify(current.config)}`;
    },
    async restore(ctx, target, input) {
      const previous = parseDoc(State, input.previous_state, `${NAME} previous state`);
      if (previous.config) return put(ctx, previous.bucket, previous.region, previous.config);
      // Deleting a configuration that is already gone succeeds, so this is idempotent too.
      await ctx.clients
        .s3(previous.region)
        .send(new DeletePublicAccessBlockCommand({ Bucket: previous.bucket }), sendOpts(ctx));
    },
  },
};
