import {
  CreateDetectorCommand,
  DeleteDetectorCommand,
  GetDetectorCommand,
  ListDetectorsCommand,
  UpdateDetectorCommand,
} from '@aws-sdk/client-guardduty';
import { tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, Target } from '../contract';
import { codedError, parseDoc, sendOpts, toJson } from './util';

const Frequency = z.enum(['FIFTEEN_MINUTES', 'ONE_HOUR', 'SIX_HOURS']);
type Frequency = z.infer<typeof Frequency>;
const Detector = z.object({
  /** null in a planned state: the id of a detector we create is known only after apply. */
  detector_id: z.string().nullable(),
  status: z.enum(['ENABLED', 'DISABLED']),
  frequency: Frequency,
});
type Detector = z.infer<typeof Detector>;
/** `detector: null` records that the region had no detector, so rollback knows to delete the one we create. */
const State = z.object({ account_id: z.string(), region: z.string(), detector: Detector.nullable() });
type State = z.infer<typeof State>;
const Ops = z.object({ action: z.enum(['none', 'create', 'update']), frequency: Frequency });

const NAME = 'enable-guardduty';
const WANT: Frequency = 'FIFTEEN_MINUTES';

async function detectorIds(ctx: HandlerContext, region: string): Promise<string[]> {
  const out = await ctx.clients.guardduty(region).send(new ListDetectorsCommand({}), sendOpts(ctx));
  return out.DetectorIds ?? [];
}

/** GuardDuty allows one detector per account and region: the first listed is the one. */
async function readState(ctx: HandlerContext, target: Target): Promise<State> {
  const base = { account_id: target.resource_id, region: target.region };
  const [id] = await detectorIds(ctx, target.region);
  if (id === undefined) return { ...base, detector: null };
  const d = await ctx.clients.guardduty(target.region).send(new GetDetectorCommand({ DetectorId: id }), sendOpts(ctx));
  const frequency = Frequency.safeParse(d.FindingPublishingFrequency);
  return {
    ...base,
    detector: {
      detector_id: id,
      status: d.Status === 'ENABLED' ? 'ENABLED' : 'DISABLED',
      // SIX_HOURS is GuardDuty's own default when a detector was created without one.
      frequency: frequency.success ? frequency.data : 'SIX_HOURS',
    },
  };
}

const compliant = (d: Detector | null): boolean => d !== null && d.status === 'ENABLED' && d.frequency === WANT;

async function update(ctx: HandlerContext, region: string, id: string, enable: boolean, frequency: Frequency) {
  await ctx.clients
    .guardduty(region)
    .send(
      new UpdateDetectorCommand({ DetectorId: id, Enable: enable, FindingPublishingFrequency: frequency }),
      sendOpts(ctx),
    );
}

export const enableGuardduty: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description:
    'Makes sure a GuardDuty detector exists and is enabled in the region, publishing findings every 15 minutes.',
  resourceType: 'AWS account id (12 digits); the region comes from the target',
  iamActions: [
    'guardduty:ListDetectors',
    'guardduty:GetDetector',
    'guardduty:CreateDetector',
    'guardduty:UpdateDetector',
    'guardduty:DeleteDetector',
    // GuardDuty creates its service-linked role on the first detector of an account.
    'iam:CreateServiceLinkedRole',
  ],

  checkResourceId(id) {
    return /^\d{12}$/.test(id) ? null : `"${id}" is not an AWS account id (12 digits)`;
  },

  async inspect(ctx, target) {
    return toJson(await readState(ctx, target));
  },

  plan(stateJson: Json) {
    const state = parseDoc(State, stateJson, `${NAME} state`);
    const d = state.detector;
    const where = `${state.account_id} ${state.region}`;
    if (compliant(d)) {
      return {
        noop: true,
        changes: [],
        planned_state: toJson(state),
        ops: toJson({ action: 'none', frequency: WANT }),
      };
    }
    const planned: State = {
      ...state,
      detector: { detector_id: d?.detector_id ?? null, status: 'ENABLED', frequency: WANT },
    };
    const changes =
      d === null
        ? [`create a GuardDuty detector in ${where}, enabled, publishing every 15 minutes`]
        : [
            ...(d.status === 'ENABLED' ? [] : [`enable GuardDuty detector ${d.detector_id} in ${where}`]),
            ...(d.frequency === WANT
              ? []
              : [`set finding publishing frequency to FIFTEEN_MINUTES (was ${d.frequency})`]),
          ];
    const ops = { action: d === null ? 'create' : 'update', frequency: WANT };
    return { noop: false, changes, planned_state: toJson(planned), ops: toJson(ops) };
  },

  async apply(ctx, target, plan) {
    const ops = parseDoc(Ops, plan.ops, `${NAME} ops`);
    if (ops.action === 'none') return;
    // Look again rather than trust the plan: after a crash half-way the detector may already exist,
    // and a second one must never be created.
    const [id] = await detectorIds(ctx, target.region);
    if (id !== undefined) return update(ctx, target.region, id, true, ops.frequency);
    await ctx.clients
      .guardduty(target.region)
      .send(new CreateDetectorCommand({ Enable: true, FindingPublishingFrequency: ops.frequency }), sendOpts(ctx));
  },

  async verify(ctx, target) {
    const { detector: d } = await readState(ctx, target);
    if (compliant(d))
      return { compliant: true, detail: `detector ${d?.detector_id} enabled, publishing every 15 minutes` };
    if (d === null) return { compliant: false, detail: 'no GuardDuty detector in this region' };
    return { compliant: false, detail: `detector ${d.detector_id} is ${d.status}, publishing ${d.frequency}` };
  },

  rollback: {
    reversible: true,
    drifted(currentJson, input) {
      const current = parseDoc(State, currentJson, `${NAME} current state`).detector;
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`).detector;
      if (current === null || planned === null) {
        return current === planned
          ? null
          : `detector ${current === null ? 'deleted' : 'present'} since the remediation`;
      }
      const sameId = planned.detector_id === null || planned.detector_id === current.detector_id;
      if (sameId && current.status === planned.status && current.frequency === planned.frequency) return null;
      return `detector changed since the remediation: now ${current.detector_id} ${current.status} ${current.frequency}`;
    },
    async restore(ctx, target, input) {
      const previous = parseDoc(State, input.previous_state, `${NAME} previous state`);
      const d = previous.detector;
      if (d === null) {
        // There was none before us: the one found now is the one we created (found by listing, its
        // id was not known when the snapshot was taken). None left means a rollback already ran.
        for (const id of await detectorIds(ctx, previous.region)) {
          await ctx.clients
            .guardduty(previous.region)
            .send(new DeleteDetectorCommand({ DetectorId: id }), sendOpts(ctx));
        }
        return;
      }
      if (d.detector_id === null) throw codedError('ValidationError', `${NAME}: previous state names no detector id`);
      await update(ctx, previous.region, d.detector_id, d.status === 'ENABLED', d.frequency);
    },
  },
};
