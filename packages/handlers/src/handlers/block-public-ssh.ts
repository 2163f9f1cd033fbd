import {
  AuthorizeSecurityGroupIngressCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import { tierOf, type Json } from '@aegis/core';
import { z } from 'zod';
import type { Handler, HandlerContext, Plan, Target } from '../contract';
import {
  Grant,
  describeGrant,
  grantKey,
  grantsMinus,
  grantsOf,
  isExposed,
  permissionOf,
  remainderOf,
  sortGrants,
} from './sg-grants';
import { codedError, parseDoc, sendOpts, toJson, tolerate } from './util';

const State = z.object({ group_id: z.string(), grants: z.array(Grant) });
type State = z.infer<typeof State>;
const Ops = z.object({ authorize: z.array(Grant), revoke: z.array(Grant) });
type Ops = z.infer<typeof Ops>;

const NAME = 'block-public-ssh';

async function readGroup(ctx: HandlerContext, target: Target): Promise<State> {
  const out = await ctx.clients
    .ec2(target.region)
    .send(new DescribeSecurityGroupsCommand({ GroupIds: [target.resource_id] }), sendOpts(ctx));
  const group = out.SecurityGroups?.find((g) => g.GroupId === target.resource_id);
  if (!group) throw codedError('InvalidGroup.NotFound', `security group ${target.resource_id} does not exist`);
  return { group_id: target.resource_id, grants: grantsOf(group.IpPermissions ?? []) };
}

/**
 * Authorise before revoking, so ports other than 22/3389 stay reachable throughout. A grant already
 * there (a retry after a crash) or already gone counts as done.
 */
async function execute(ctx: HandlerContext, target: Target, ops: Ops): Promise<void> {
  const ec2 = ctx.clients.ec2(target.region);
  const GroupId = target.resource_id;
  for (const g of ops.authorize) {
    await tolerate(['InvalidPermission.Duplicate'], () =>
      ec2.send(
        new AuthorizeSecurityGroupIngressCommand({ GroupId, IpPermissions: [permissionOf(g, true)] }),
        sendOpts(ctx),
      ),
    );
  }
  for (const g of ops.revoke) {
    await tolerate(['InvalidPermission.NotFound'], () =>
      ec2.send(
        new RevokeSecurityGroupIngressCommand({ GroupId, IpPermissions: [permissionOf(g, false)] }),
        sendOpts(ctx),
      ),
    );
  }
}

function plan(stateJson: Json): Plan {
  const state = parseDoc(State, stateJson, `${NAME} state`);
  const revoke = state.grants.filter(isExposed);
  const existing = new Set(state.grants.map(grantKey));
  const authorize: Grant[] = [];
  const changes: string[] = [];
  for (const g of revoke) {
    changes.push(`revoke ${describeGrant(g)}`);
    for (const rest of remainderOf(g)) {
      // A sub-range that is already a rule of its own stays untouched, so rollback never removes it.
      if (existing.has(grantKey(rest))) continue;
      existing.add(grantKey(rest));
      authorize.push(rest);
      changes.push(`authorize ${describeGrant(rest)} (keeps the rest of ${describeGrant(g)} open)`);
    }
  }
  const planned: State = {
    group_id: state.group_id,
    grants: sortGrants([...grantsMinus(state.grants, revoke), ...authorize]),
  };
  const ops: Ops = { authorize, revoke };
  return { noop: revoke.length === 0, changes, planned_state: toJson(planned), ops: toJson(ops) };
}

function drifted(currentJson: Json, input: { planned_state: Json }): string | null {
  const current = parseDoc(State, currentJson, `${NAME} current state`);
  const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
  const added = grantsMinus(current.grants, planned.grants).map(describeGrant);
  const removed = grantsMinus(planned.grants, current.grants).map(describeGrant);
  if (added.length === 0 && removed.length === 0) return null;
  const parts = [];
  if (added.length) parts.push(`rules added since the remediation: ${added.join('; ')}`);
  if (removed.length) parts.push(`rules removed since the remediation: ${removed.join('; ')}`);
  return parts.join('; ');
}

export const blockPublicSsh: Handler = {
  name: NAME,
  tier: tierOf(NAME),
  description:
    'Removes ingress rules that open SSH (22) or RDP (3389) to 0.0.0.0/0 or ::/0; wider ranges are narrowed so other ports stay open.',
  resourceType: 'security group id (sg-…)',
  iamActions: ['ec2:DescribeSecurityGroups', 'ec2:RevokeSecurityGroupIngress', 'ec2:AuthorizeSecurityGroupIngress'],

  checkResourceId(id) {
    return /^sg-[0-9a-f]{8,17}$/.test(id)
      ? null
      : `"${id}" is not a security group id (sg- followed by 8 or 17 hex digits)`;
  },

  async inspect(ctx, target) {
    return toJson(await readGroup(ctx, target));
  },

  plan,

  async apply(ctx, target, p) {
    if (p.noop) return;
    await execute(ctx, target, parseDoc(Ops, p.ops, `${NAME} ops`));
  },

  async verify(ctx, target) {
    // Read the group again: a revoke that matched nothing reports success without changing anything.
    const open = (await readGroup(ctx, target)).grants.filter(isExposed);
    if (open.length === 0) return { compliant: true, detail: 'no rule opens port 22 or 3389 to the world' };
    return { compliant: false, detail: `still open to the world: ${open.map(describeGrant).join('; ')}` };
  },

  rollback: {
    reversible: true,
    drifted,
    // Derived from the two states alone (their difference is exactly the ops), so a snapshot file is enough.
    async restore(ctx, target, input) {
      const previous = parseDoc(State, input.previous_state, `${NAME} previous state`);
      const planned = parseDoc(State, input.planned_state, `${NAME} planned state`);
      await execute(ctx, target, {
        authorize: grantsMinus(previous.grants, planned.grants),
        revoke: grantsMinus(planned.grants, previous.grants),
      });
    },
  },
};
