import { GetAccessKeyLastUsedCommand, ListAccessKeysCommand, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, HandlerSettings } from '../contract';
import { codedError, parseDoc, sendOpts, toJson } from './util';

const Key = z.object({
  access_key_id: z.string(),
  status: z.enum(['Active', 'Inactive']),
  created: z.string(),
  /** null: never used. */
  last_used: z.string().nullable(),
  last_used_service: z.string().nullable(),
});
type Key = z.infer<typeof Key>;
const State = z.object({ user_name: z.string(), keys: z.array(Key) });
type State = z.infer<typeof State>;
/** Only key ids: ages change by the hour, and the plan hash must not. */
const Ops = z.object({ deactivate: z.array(z.string()) });

const NAME = 'rotate-iam-keys';
const DAY_MS = 86_400_000;
const USER_ARN = /^arn:aws(?:-[a-z]+)*:iam::\d{12}:user\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const USER_NAME = /^[\w+=,.@-]{1,64}$/;

/** The user name in a user ARN (its path dropped) or a plain user name. */
export function userNameOf(resourceId: string): string | null {
  const arn = USER_ARN.exec(resourceId);
  if (arn) return arn[1] ?? null;
  return USER_NAME.test(resourceId) && !resourceId.startsWith('arn:') ? resourceId : null;
}

function requireUser(resourceId: string): string {
  const name = userNameOf(resourceId);
  if (name === null) throw codedError('ValidationError', `"${resourceId}" is not an IAM user ARN or user name`);
  return name;
}

async function readKeys(ctx: HandlerContext, userName: string): Promise<State> {
  const iam = ctx.clients.iam();
  const keys: Key[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(new ListAccessKeysCommand({ UserName: userName, Marker: marker }), sendOpts(ctx));
    for (const k of page.AccessKeyMetadata ?? []) {
      if (!k.AccessKeyId) continue;
      const used = await iam.send(new GetAccessKeyLastUsedCommand({ AccessKeyId: k.AccessKeyId }), sendOpts(ctx));
      keys.push({
        access_key_id: k.AccessKeyId,
        status: k.Status === 'Active' ? 'Active' : 'Inactive',
        created: (k.CreateDate ?? new Date(0)).toISOString(),
        last_used: used.AccessKeyLastUsed?.LastUsedDate?.toISOString() ?? null,
        last_used_service: used.AccessKeyLastUsed?.ServiceName ?? null,
      });
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  keys.sort((a, b) => (a.access_key_id < b.access_key_id ? -1 : 1));
  return { user_name: userName, keys };
}

const ageDays = (k: Key, now: Date): number => Math.floor((now.getTime() - Date.parse(k.created)) / DAY_MS);

/** Active and older than the threshold; a threshold of 0 (the incident case) takes every active key. */
function isStale(k: Key, settings: HandlerSettings, now: Date): boolean {
  if (k.status !== 'Active') return false;
  if (settings.keyMaxAgeDays === 0) return true;
  return now.getTime() - Date.parse(k.created) > settings.keyMaxAgeDays * DAY_MS;
}

function describeKey(k: Key, now: Date): string {
  const use = k.last_used
    ? `last used ${k.last_used.slice(0, 10)}${k.last_used_service ? ` (${k.last_used_service})` : ''}`
    : 'never used';
  return `${k.access_key_id} (${ageDays(k, now)} days old, ${use})`;
}

async function setStatus(ctx: HandlerContext, userName: string, ids: readonly string[], status: 'Active' | 'Inactive') {
  for (const id of ids) {
    await ctx.clients
      .iam()
      .send(new UpdateAccessKeyCommand({ UserName: userName, AccessKeyId: id, Status: status }), sendOpts(ctx));
  }
}

const statuses = (s: State): string =>
  s.keys
    .map((k) => `${k.access_key_id}=${k.status}`)
    .sort()
    .join(', ');

export const rotateIamKeys: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description: "Deactivates a user's active access keys older than the threshold (AEGIS_KEY_MAX_AGE_DAYS, default 90).",
  resourceType: 'IAM user ARN (arn:aws:iam::<account>:user/<path/>name) or user name',
  iamActions: ['iam:ListAccessKeys', 'iam:GetAccessKeyLastUsed', 'iam:UpdateAccessKey'],

  checkResourceId(id) {
    return userNameOf(id) === null ? `"${id}" is not an IAM user ARN or user name` : null;
  },

  async inspect(ctx, target) {
    return toJson(await readKeys(ctx, requireUser(target.resource_id)));
  },

  plan(stateJson: Json, _target, settings, now) {
    const state = parseDoc(State, stateJson, `${NAME} state`);
    const stale = state.keys.filter((k) => isStale(k, settings, now));
    const ids = new Set(stale.map((k) => k.access_key_id));
    const planned: State = {
      ...state,
      keys: state.keys.map((k) => (ids.has(k.access_key_id) ? { ...k, status: 'Inactive' } : k)),
    };
    return {
      noop: stale.length === 0,
      changes: stale.map((k) => `deactivate access key ${describeKey(k, now)} of ${state.user_name}`),
      planned_state: toJson(planned),
      ops: toJson({ deactivate: [...ids] }),
    };
  },

  async apply(ctx, target, plan) {
    const ops = parseDoc(Ops, plan.ops, `${NAME} ops`);
    await setStatus(ctx, requireUser(target.resource_id), ops.deactivate, 'Inactive');
  },

  async verify(ctx, target) {
    const now = ctx.now();
    const state = await readKeys(ctx, requireUser(target.resource_id));
    const stale = state.keys.filter((k) => isStale(k, ctx.settings, now));
    if (stale.length === 0)
      return { compliant: true, detail: `no active key older than ${ctx.settings.keyMaxAgeDays} days` };
    return { compliant: false, detail: `still active: ${stale.map((k) => describeKey(k, now)).join('; ')}` };
  },

  rollback: {
    reversible: true,
    drifted(currentJson, input) {
      const current = parseDoc(State, currentJson, `${NAME} current state`);
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
      // Last-use dates move on their own; only key statuses (and which keys exist) are ours.
      if (statuses(current) === statuses(planned)) return null;
      return `access keys changed since the remediation: now ${statuses(current) || 'none'}`;
    },
    // Exactly the keys this change deactivated: active before, inactive in the planned state.
    async restore(ctx, target, input) {
      const previous = parseDoc(State, input.previous_state, `${NAME} previous state`);
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
      const wasActive = new Set(previous.keys.filter((k) => k.status === 'Active').map((k) => k.access_key_id));
      const ours = planned.keys.filter((k) => k.status === 'Inactive' && wasActive.has(k.access_key_id));
      await setStatus(
        ctx,
        previous.user_name,
        ours.map((k) => k.access_key_id),
        'Active',
      );
    },
  },
};
