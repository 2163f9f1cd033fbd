import type { Ec2Action, Ec2Call } from './ec2';
import { dryRun, filters, matchesFilters, tagSet, tagsFrom } from './ec2';
import type { RegionState, SecurityGroup, SgRule } from './state';
import { AwsError, type ParamTree, type XmlObject, hex, int, list, str, strList } from './wire';

const GROUP_ID = /^sg-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** A security group by id (checked for form first, as EC2 does) or by name in the default VPC. */
export function findGroup(r: RegionState, groupId: string | undefined, groupName?: string): SecurityGroup {
  if (groupId !== undefined) {
    if (!GROUP_ID.test(groupId)) {
      throw new AwsError('InvalidGroupId.Malformed', `Invalid id: "${groupId}" (expecting "sg-...")`);
    }
    const g = r.securityGroups.get(groupId);
    if (!g) throw new AwsError('InvalidGroup.NotFound', `The security group '${groupId}' does not exist`);
    return g;
  }
  if (groupName !== undefined) {
    const g = [...r.securityGroups.values()].find((x) => x.groupName === groupName && x.vpcId === r.defaultVpcId);
    if (!g) {
      throw new AwsError('InvalidGroup.NotFound', `The security group '${groupName}' does not exist in default VPC`);
    }
    return g;
  }
  throw new AwsError('MissingParameter', 'The request must contain the parameter groupId or groupName');
}

const PROTOCOLS: Record<string, string> = {
  tcp: 'tcp',
  '6': 'tcp',
  udp: 'udp',
  '17': 'udp',
  icmp: 'icmp',
  '1': 'icmp',
  icmpv6: 'icmpv6',
  '58': 'icmpv6',
  '-1': '-1',
  all: '-1',
};

type RuleSpec = Omit<SgRule, 'ruleId'>;

function normalizeProtocol(p: string | undefined): string {
  if (p === undefined) throw new AwsError('MissingParameter', 'The request must contain the parameter ipProtocol');
  const known = PROTOCOLS[p.toLowerCase()];
  if (known) return known;
  const n = Number(p);
  if (Number.isInteger(n) && n >= 0 && n <= 255) return String(n);
  throw new AwsError('InvalidParameterValue', `Invalid value '${p}' for IP protocol. Unknown protocol.`);
}

function ports(
  protocol: string,
  from: number | undefined,
  to: number | undefined,
): Pick<RuleSpec, 'fromPort' | 'toPort'> {
  if (protocol === 'tcp' || protocol === 'udp') {
    if (from === undefined || to === undefined || from < 0 || to > 65535 || from > to) {
      throw new AwsError(
        'InvalidParameterValue',
        `Invalid port range ${from ?? 'null'}-${to ?? 'null'} for ${protocol}`,
      );
    }
    return { fromPort: from, toPort: to };
  }
  if (protocol === 'icmp' || protocol === 'icmpv6') return { fromPort: from ?? -1, toPort: to ?? -1 };
  return {};
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
function checkCidr(c: string, v6: boolean): string {
  const m = V4.exec(c);
  const ok = v6
    ? /^[0-9a-fA-F:]+\/\d{1,3}$/.test(c) && c.includes(':') && Number(c.split('/')[1]) <= 128
    : !!m && m.slice(1, 5).every((o) => Number(o) <= 255) && Number(m[5]) <= 32;
  if (!ok) throw new AwsError('InvalidParameterValue', `CIDR block ${c} is malformed`);
  return c.toLowerCase();
}

/** Rules of a request: the top-level CidrIp form (CLI `--protocol --port --cidr`) or `IpPermissions.N`. */
function requestedRules(p: ParamTree): RuleSpec[] {
  const out: RuleSpec[] = [];
  const cidr = str(p, 'CidrIp');
  if (cidr !== undefined || str(p, 'IpProtocol') !== undefined) {
    const protocol = normalizeProtocol(str(p, 'IpProtocol'));
    if (cidr === undefined) throw new AwsError('MissingParameter', 'The request must contain the parameter cidrIp');
    out.push({ protocol, ...ports(protocol, int(p, 'FromPort'), int(p, 'ToPort')), cidrIpv4: checkCidr(cidr, false) });
  }
  for (const perm of list(p, 'IpPermissions')) {
    const protocol = normalizeProtocol(str(perm, 'IpProtocol'));
    const range = ports(protocol, int(perm, 'FromPort'), int(perm, 'ToPort'));
    if (list(perm, 'Groups').length || list(perm, 'PrefixListIds').length) {
      throw new AwsError('InvalidParameterValue', 'The sandbox emulates CIDR sources only (no group or prefix-list)');
    }
    for (const r of list(perm, 'IpRanges')) {
      const d = str(r, 'Description');
      out.push({
        protocol,
        ...range,
        cidrIpv4: checkCidr(str(r, 'CidrIp') ?? '', false),
        ...(d ? { description: d } : {}),
      });
    }
    for (const r of list(perm, 'Ipv6Ranges')) {
      const d = str(r, 'Description');
      out.push({
        protocol,
        ...range,
        cidrIpv6: checkCidr(str(r, 'CidrIpv6') ?? '', true),
        ...(d ? { description: d } : {}),
      });
    }
  }
  if (!out.length) throw new AwsError('MissingParameter', 'The request must contain the parameter ipPermissions');
  return out;
}

const key = (r: RuleSpec) =>
  `${r.protocol}|${r.fromPort ?? ''}|${r.toPort ?? ''}|${r.cidrIpv4 ?? ''}|${r.cidrIpv6 ?? ''}`;

function describeRule(r: RuleSpec): string {
  const portText = r.fromPort === undefined ? 'ALL' : `from port: ${r.fromPort}, to port: ${r.toPort}`;
  return `peer: ${r.cidrIpv4 ?? r.cidrIpv6}, ${r.protocol === '-1' ? 'ALL' : r.protocol.toUpperCase()}, ${portText}, ALLOW`;
}

/** Rules grouped into IpPermissions by (protocol, ports), in first-seen order, as EC2 shows them. */
export function permissionsXml(rules: RuleSpec[]): XmlObject {
  const groups = new Map<string, RuleSpec[]>();
  for (const r of rules) {
    const k = `${r.protocol}|${r.fromPort ?? ''}|${r.toPort ?? ''}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return {
    item: [...groups.values()].map((rs) => {
      const first = rs[0] as RuleSpec;
      return {
        ipProtocol: first.protocol,
        fromPort: first.fromPort,
        toPort: first.toPort,
        groups: { item: [] },
        ipRanges: {
          item: rs.filter((r) => r.cidrIpv4).map((r) => ({ cidrIp: r.cidrIpv4, description: r.description })),
        },
        ipv6Ranges: {
          item: rs.filter((r) => r.cidrIpv6).map((r) => ({ cidrIpv6: r.cidrIpv6, description: r.description })),
        },
        prefixListIds: { item: [] },
      };
    }),
  };
}

function ruleXml(g: SecurityGroup, r: SgRule, account: string): XmlObject {
  return {
    securityGroupRuleId: r.ruleId,
    groupId: g.groupId,
    groupOwnerId: account,
    isEgress: false,
    ipProtocol: r.protocol,
    fromPort: r.fromPort ?? -1,
    toPort: r.toPort ?? -1,
    cidrIpv4: r.cidrIpv4,
    cidrIpv6: r.cidrIpv6,
    description: r.description,
  };
}

function groupXml(g: SecurityGroup, region: string, account: string): XmlObject {
  return {
    ownerId: account,
    groupId: g.groupId,
    groupName: g.groupName,
    groupDescription: g.description,
    vpcId: g.vpcId,
    securityGroupArn: `arn:aws:ec2:${region}:${account}:security-group/${g.groupId}`,
    ipPermissions: permissionsXml(g.ingress),
    ipPermissionsEgress: permissionsXml(g.egress),
    tagSet: tagSet(g.tags),
  };
}

function groupFields(g: SecurityGroup, name: string, account: string): string[] | undefined {
  const rules = g.ingress;
  const fields: Record<string, string[]> = {
    'group-id': [g.groupId],
    'group-name': [g.groupName],
    description: [g.description],
    'vpc-id': [g.vpcId],
    'owner-id': [account],
    'ip-permission.protocol': rules.map((r) => r.protocol),
    'ip-permission.from-port': rules.map((r) => String(r.fromPort ?? -1)),
    'ip-permission.to-port': rules.map((r) => String(r.toPort ?? -1)),
    'ip-permission.cidr': rules.flatMap((r) => (r.cidrIpv4 ? [r.cidrIpv4] : [])),
    'ip-permission.ipv6-cidr': rules.flatMap((r) => (r.cidrIpv6 ? [r.cidrIpv6] : [])),
  };
  return fields[name];
}

const region = (c: Ec2Call) => c.ctx.state.region(c.region);

export const ec2GroupActions: Record<string, Ec2Action> = {
  CreateSecurityGroup(c) {
    const r = region(c);
    const name = str(c.params, 'GroupName');
    const description = str(c.params, 'GroupDescription');
    if (!name) throw new AwsError('MissingParameter', 'The request must contain the parameter groupName');
    if (!description) throw new AwsError('MissingParameter', 'The request must contain the parameter groupDescription');
    const vpcId = str(c.params, 'VpcId') ?? r.defaultVpcId;
    if ([...r.securityGroups.values()].some((g) => g.groupName === name && g.vpcId === vpcId)) {
      throw new AwsError('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpcId}'`);
    }
    dryRun(c.params);
    const g: SecurityGroup = {
      groupId: `sg-${hex(17)}`,
      groupName: name,
      description,
      vpcId,
      ingress: [],
      egress: [{ ruleId: `sgr-${hex(17)}`, protocol: '-1', cidrIpv4: '0.0.0.0/0' }],
      tags: tagsFrom(c.params, 'security-group'),
    };
    r.securityGroups.set(g.groupId, g);
    return {
      return: true,
      groupId: g.groupId,
      securityGroupArn: groupXml(g, c.region, c.ctx.state.accountId).securityGroupArn,
    };
  },

  DeleteSecurityGroup(c) {
    const r = region(c);
    const g = findGroup(r, str(c.params, 'GroupId'), str(c.params, 'GroupName'));
    if ([...r.instances.values()].some((i) => i.state !== 'terminated' && i.securityGroupIds.includes(g.groupId))) {
      throw new AwsError('DependencyViolation', `resource ${g.groupId} has a dependent object`);
    }
    dryRun(c.params);
    r.securityGroups.delete(g.groupId);
    return { return: true, groupId: g.groupId };
  },

  DescribeSecurityGroups(c) {
    const r = region(c);
    const ids = strList(c.params, 'GroupId');
    const names = strList(c.params, 'GroupName');
    let groups = [...r.securityGroups.values()];
    if (ids.length) groups = ids.map((id) => findGroup(r, id));
    // GroupName.N names groups of the default VPC only, as in EC2 (other VPCs: the group-name filter).
    if (names.length) groups = names.map((n) => findGroup(r, undefined, n)).filter((g) => groups.includes(g));
    const fs = filters(c.params);
    groups = groups.filter((g) => matchesFilters(fs, (n) => groupFields(g, n, c.ctx.state.accountId), g.tags));
    return { securityGroupInfo: { item: groups.map((g) => groupXml(g, c.region, c.ctx.state.accountId)) } };
  },

  AuthorizeSecurityGroupIngress(c) {
    const g = findGroup(region(c), str(c.params, 'GroupId'), str(c.params, 'GroupName'));
    const wanted = requestedRules(c.params);
    const seen = new Set(g.ingress.map(key));
    for (const w of wanted) {
      if (seen.has(key(w))) {
        throw new AwsError('InvalidPermission.Duplicate', `the specified rule "${describeRule(w)}" already exists`);
      }
      seen.add(key(w));
    }
    dryRun(c.params);
    const added = wanted.map((w) => ({ ruleId: `sgr-${hex(17)}`, ...w }));
    g.ingress.push(...added);
    return { return: true, securityGroupRuleSet: { item: added.map((a) => ruleXml(g, a, c.ctx.state.accountId)) } };
  },

  RevokeSecurityGroupIngress(c) {
    const r = region(c);
    const g = findGroup(r, str(c.params, 'GroupId'), str(c.params, 'GroupName'));
    const ruleIds = strList(c.params, 'SecurityGroupRuleId');
    const wanted = ruleIds.length ? [] : requestedRules(c.params);
    const byKey = new Map(g.ingress.map((x) => [key(x), x]));
    const found = [
      ...wanted.flatMap((w) => byKey.get(key(w)) ?? []),
      ...g.ingress.filter((x) => ruleIds.includes(x.ruleId)),
    ];
    const unknown = wanted.filter((w) => !byKey.has(key(w)));
    const unknownIds = ruleIds.filter((id) => !g.ingress.some((x) => x.ruleId === id));
    if (unknownIds.length) {
      throw new AwsError(
        'InvalidSecurityGroupRuleId.NotFound',
        `The security group rule ID '${unknownIds[0]}' does not exist`,
      );
    }
    // Current EC2: in a non-default VPC an unknown rule fails the whole call; in the default VPC
    // the known rules are revoked and the unknown ones are listed.
    if (unknown.length && g.vpcId !== r.defaultVpcId) {
      throw new AwsError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
    }
    dryRun(c.params);
    const gone = new Set(found.map((x) => x.ruleId));
    g.ingress = g.ingress.filter((x) => !gone.has(x.ruleId));
    return {
      return: true,
      unknownIpPermissionSet: unknown.length ? permissionsXml(unknown) : undefined,
      revokedSecurityGroupRuleSet: { item: found.map((x) => ruleXml(g, x, c.ctx.state.accountId)) },
    };
  },
};
