import type { IpPermission } from '@aws-sdk/client-ec2';
import { z } from 'zod';

/** One CIDR grant of one ingress permission: the unit block-public-ssh reads, revokes and re-authorises. */
export const Grant = z.object({
  protocol: z.string(),
  from_port: z.number().int(),
  to_port: z.number().int(),
  cidr: z.string(),
  family: z.enum(['ipv4', 'ipv6']),
  description: z.string().optional(),
});
export type Grant = z.infer<typeof Grant>;

export const WORLD_CIDRS: ReadonlySet<string> = new Set(['0.0.0.0/0', '::/0']);
export const ADMIN_PORTS = [22, 3389] as const;
const PORT_MAX = 65535;

/**
 * EC2 answers names for tcp/udp/icmp and numbers for the rest, but accepts either: one canonical
 * spelling keeps states comparable, whichever form a rule was created with.
 */
const PROTOCOL_ALIASES: Record<string, string> = { '6': 'tcp', '17': 'udp', '1': 'icmp', icmpv6: '58' };

export function canonicalProtocol(p: string | undefined): string {
  const lower = (p ?? '-1').toLowerCase();
  return PROTOCOL_ALIASES[lower] ?? lower;
}

/** The CIDR grants of a group's ingress permissions; group-to-group and prefix-list grants are not ours to touch. */
export function grantsOf(permissions: readonly IpPermission[]): Grant[] {
  const out: Grant[] = [];
  for (const p of permissions) {
    const protocol = canonicalProtocol(p.IpProtocol);
    // All-protocol rules carry no ports; -1/-1 stands for "every port" like an all-types ICMP rule.
    const from_port = protocol === '-1' ? -1 : (p.FromPort ?? -1);
    const to_port = protocol === '-1' ? -1 : (p.ToPort ?? -1);
    for (const r of p.IpRanges ?? []) {
      if (!r.CidrIp) continue;
      out.push({ protocol, from_port, to_port, cidr: r.CidrIp, family: 'ipv4', description: r.Description });
    }
    for (const r of p.Ipv6Ranges ?? []) {
      if (!r.CidrIpv6) continue;
      out.push({ protocol, from_port, to_port, cidr: r.CidrIpv6, family: 'ipv6', description: r.Description });
    }
  }
  return sortGrants(out);
}

/** Identity of a grant for EC2: descriptions are labels, not part of what a revoke matches. */
export function grantKey(g: Grant): string {
  return `${g.protocol}|${g.from_port}|${g.to_port}|${g.cidr}`;
}

export function sortGrants(grants: readonly Grant[]): Grant[] {
  return [...grants].sort((a, b) => (grantKey(a) < grantKey(b) ? -1 : grantKey(a) > grantKey(b) ? 1 : 0));
}

export function describeGrant(g: Grant): string {
  const ports =
    g.protocol === '-1'
      ? 'all traffic'
      : g.from_port === g.to_port
        ? `${g.protocol} ${g.from_port}`
        : `${g.protocol} ${g.from_port}-${g.to_port}`;
  const label = g.description ? ` ("${g.description}")` : '';
  return `${ports} from ${g.cidr}${label}`;
}

function reachesPort(g: Grant, port: number): boolean {
  if (g.protocol === '-1') return true;
  return g.protocol === 'tcp' && g.from_port <= port && port <= g.to_port;
}

/** A world-open grant that lets SSH or RDP in: what the finding is about. */
export function isExposed(g: Grant): boolean {
  return WORLD_CIDRS.has(g.cidr) && ADMIN_PORTS.some((p) => reachesPort(g, p));
}

/** The TCP range `from..to` with the admin ports cut out, as the sub-ranges left over. */
function tcpRemainder(from: number, to: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let start = from;
  for (const port of ADMIN_PORTS) {
    if (port < start || port > to) continue;
    if (port > start) out.push([start, port - 1]);
    start = port + 1;
  }
  if (start <= to) out.push([start, to]);
  return out;
}

/**
 * What must be re-authorised so that removing `g` closes only SSH and RDP. An all-protocol rule is
 * narrowed to TCP without 22/3389, all of UDP and all of ICMP (ICMPv6 for IPv6); other IP protocols
 * (GRE, ESP, …) are not re-opened to the world: one rule per protocol number would exceed the
 * security group rule quota, and a world-open rule for them is never what a finding wants kept.
 */
export function remainderOf(g: Grant): Grant[] {
  const base = { cidr: g.cidr, family: g.family, description: g.description };
  const tcp = (from: number, to: number): Grant[] =>
    tcpRemainder(from, to).map(([f, t]) => ({ ...base, protocol: 'tcp', from_port: f, to_port: t }));
  if (g.protocol === '-1') {
    const icmp = g.family === 'ipv4' ? 'icmp' : '58';
    return [
      ...tcp(0, PORT_MAX),
      { ...base, protocol: 'udp', from_port: 0, to_port: PORT_MAX },
      { ...base, protocol: icmp, from_port: -1, to_port: -1 },
    ];
  }
  return tcp(g.from_port, g.to_port);
}

/** The EC2 permission for exactly one grant; descriptions are sent only when authorising. */
export function permissionOf(g: Grant, withDescription: boolean): IpPermission {
  const p: IpPermission = { IpProtocol: g.protocol };
  if (g.protocol !== '-1') {
    p.FromPort = g.from_port;
    p.ToPort = g.to_port;
  }
  const description = withDescription && g.description !== undefined ? { Description: g.description } : {};
  if (g.family === 'ipv4') p.IpRanges = [{ CidrIp: g.cidr, ...description }];
  else p.Ipv6Ranges = [{ CidrIpv6: g.cidr, ...description }];
  return p;
}

/** Grants in `a` whose identity is not in `b`. */
export function grantsMinus(a: readonly Grant[], b: readonly Grant[]): Grant[] {
  const keys = new Set(b.map(grantKey));
  return a.filter((g) => !keys.has(grantKey(g)));
}
