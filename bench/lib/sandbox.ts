import { randomBytes } from 'node:crypto';
import { startSandbox, type CallStats, type SandboxHandle } from '../../services/aws-sandbox/src';

export const REGION = 'us-east-1';
export const ACCOUNT = '123456789012';

/** The aws-sandbox in this process: unseeded, no throttling, no latency until a phase sets them. */
export function startBenchSandbox(): Promise<SandboxHandle> {
  return startSandbox({ port: 0, host: '127.0.0.1', seed: false, throttling: false, logLevel: 'error' });
}

/**
 * `n` security groups in the default VPC, each with exactly one finding for block-public-ssh: TCP
 * 22 open to 0.0.0.0/0, so remediating one is describe, revoke, describe. Written straight into the
 * sandbox's state, as its own demo seed does: 10,000 groups through the API would take minutes.
 */
export function seedOpenSshGroups(sb: SandboxHandle, n: number): string[] {
  const r = sb.state.region(REGION);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const suffix = randomBytes(9).toString('hex').slice(0, 17);
    const groupId = `sg-${suffix}`;
    r.securityGroups.set(groupId, {
      groupId,
      groupName: `bench-${suffix}`,
      description: 'bench: SSH open to the world',
      vpcId: r.defaultVpcId,
      ingress: [{ ruleId: `sgr-${suffix}`, protocol: 'tcp', fromPort: 22, toPort: 22, cidrIpv4: '0.0.0.0/0' }],
      egress: [{ ruleId: `sgr-e${suffix.slice(1)}`, protocol: '-1', cidrIpv4: '0.0.0.0/0' }],
      tags: {},
    });
    ids.push(groupId);
  }
  return ids;
}

/** Drops groups a phase is done with, so later describes do not walk an ever larger table. */
export function dropGroups(sb: SandboxHandle, ids: readonly string[]): void {
  const r = sb.state.region(REGION);
  for (const id of ids) r.securityGroups.delete(id);
}

/** Groups among `ids` that still have a rule opening port 22 to the world. */
export function stillOpen(sb: SandboxHandle, ids: readonly string[]): number {
  const r = sb.state.region(REGION);
  return ids.filter((id) =>
    r.securityGroups
      .get(id)
      ?.ingress.some((x) => x.cidrIpv4 === '0.0.0.0/0' && (x.fromPort ?? 0) <= 22 && (x.toPort ?? 65535) >= 22),
  ).length;
}

export interface OpStats {
  calls: number;
  ok: number;
  throttled: number;
}

/** Calls of one `service:Operation` (or the sum over several), successful ones apart. */
export function opStats(all: Record<string, CallStats>, ops: readonly string[]): OpStats {
  let calls = 0;
  let throttled = 0;
  let bad = 0;
  for (const op of ops) {
    const s = all[op];
    if (!s) continue;
    calls += s.calls;
    throttled += s.throttled;
    bad += s.faulted + s.errors;
  }
  return { calls, ok: calls - throttled - bad, throttled };
}
