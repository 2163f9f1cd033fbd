import type { Ec2Action, Ec2Call } from './ec2';
import { dryRun, filters, matchesFilters, tagSet, tagsFrom } from './ec2';
import { findGroup } from './ec2-groups';
import { INSTANCE_STATE_CODES, type Instance, type MetadataOptions, type RegionState, metadataState } from './state';
import { AwsError, type XmlObject, bool, hex, int, isoNow, str, strList } from './wire';

const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;

export function findInstances(r: RegionState, ids: string[]): Instance[] {
  for (const id of ids) {
    if (!INSTANCE_ID.test(id)) throw new AwsError('InvalidInstanceID.Malformed', `Invalid id: "${id}"`);
  }
  const missing = ids.filter((id) => !r.instances.has(id));
  if (missing.length === 1) {
    throw new AwsError('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
  }
  if (missing.length > 1) {
    throw new AwsError('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
  }
  return ids.map((id) => r.instances.get(id) as Instance);
}

export interface NewInstance {
  imageId?: string;
  instanceType?: string;
  reservationId?: string;
  securityGroupIds?: string[];
  tags?: Record<string, string>;
  metadata?: Partial<MetadataOptions>;
  launchTime?: number;
}

/** A running instance in the region's default VPC, with EC2's default metadata options. */
export function createInstance(r: RegionState, region: string, o: NewInstance, now: number): Instance {
  const ip = `10.0.${Math.floor(Math.random() * 250)}.${4 + Math.floor(Math.random() * 250)}`;
  const def = [...r.securityGroups.values()].find((g) => g.groupName === 'default' && g.vpcId === r.defaultVpcId);
  const instance: Instance = {
    instanceId: `i-${hex(17)}`,
    reservationId: o.reservationId ?? `r-${hex(17)}`,
    imageId: o.imageId ?? 'ami-12c6146b',
    instanceType: o.instanceType ?? 'm1.small',
    state: 'running',
    launchTime: o.launchTime ?? now,
    availabilityZone: `${region}a`,
    subnetId: `subnet-${hex(17)}`,
    vpcId: r.defaultVpcId,
    privateIpAddress: ip,
    securityGroupIds: o.securityGroupIds ?? (def ? [def.groupId] : []),
    tags: o.tags ?? {},
    metadata: {
      httpTokens: 'optional',
      httpEndpoint: 'enabled',
      httpPutResponseHopLimit: 1,
      httpProtocolIpv6: 'disabled',
      instanceMetadataTags: 'disabled',
      ...o.metadata,
    },
    patch: {
      baselineId: 'pb-0c10e65780EXAMPLE',
      installed: 42,
      installedOther: 3,
      missing: 0,
      failed: 0,
      notApplicable: 11,
      operation: 'Scan',
      operationStart: now,
      operationEnd: now,
    },
  };
  r.instances.set(instance.instanceId, instance);
  return instance;
}

function metadataXml(m: MetadataOptions, now: number): XmlObject {
  return {
    state: metadataState(m, now),
    httpTokens: m.httpTokens,
    httpPutResponseHopLimit: m.httpPutResponseHopLimit,
    httpEndpoint: m.httpEndpoint,
    httpProtocolIpv6: m.httpProtocolIpv6,
    instanceMetadataTags: m.instanceMetadataTags,
  };
}

function instanceXml(i: Instance, r: RegionState, now: number): XmlObject {
  return {
    instanceId: i.instanceId,
    imageId: i.imageId,
    instanceState: { code: INSTANCE_STATE_CODES[i.state], name: i.state },
    privateDnsName: `ip-${i.privateIpAddress.replace(/\./g, '-')}.ec2.internal`,
    dnsName: '',
    amiLaunchIndex: 0,
    instanceType: i.instanceType,
    launchTime: isoNow(i.launchTime),
    placement: { availabilityZone: i.availabilityZone, tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: i.subnetId,
    vpcId: i.vpcId,
    privateIpAddress: i.privateIpAddress,
    groupSet: {
      item: i.securityGroupIds.map((id) => ({ groupId: id, groupName: r.securityGroups.get(id)?.groupName })),
    },
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: '/dev/xvda',
    virtualizationType: 'hvm',
    hypervisor: 'xen',
    tagSet: tagSet(i.tags),
    metadataOptions: metadataXml(i.metadata, now),
  };
}

function instanceFields(i: Instance, name: string, now: number): string[] | undefined {
  const fields: Record<string, string[]> = {
    'instance-id': [i.instanceId],
    'instance-state-name': [i.state],
    'instance-state-code': [String(INSTANCE_STATE_CODES[i.state])],
    'instance-type': [i.instanceType],
    'image-id': [i.imageId],
    'vpc-id': [i.vpcId],
    'subnet-id': [i.subnetId],
    'availability-zone': [i.availabilityZone],
    'reservation-id': [i.reservationId],
    'instance.group-id': i.securityGroupIds,
    'metadata-options.http-tokens': [i.metadata.httpTokens],
    'metadata-options.http-endpoint': [i.metadata.httpEndpoint],
    'metadata-options.http-put-response-hop-limit': [String(i.metadata.httpPutResponseHopLimit)],
    'metadata-options.state': [metadataState(i.metadata, now)],
  };
  return fields[name];
}

const region = (c: Ec2Call) => c.ctx.state.region(c.region);

function oneOf<T extends string>(v: string | undefined, allowed: readonly T[], field: string): T | undefined {
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new AwsError('InvalidParameterValue', `Value (${v}) for parameter ${field} is invalid.`);
  }
  return v as T;
}

function hopLimit(v: number | undefined): number | undefined {
  if (v !== undefined && (v < 1 || v > 64)) {
    throw new AwsError('InvalidParameterValue', `Value (${v}) for parameter httpPutResponseHopLimit is invalid.`);
  }
  return v;
}

export const ec2InstanceActions: Record<string, Ec2Action> = {
  RunInstances(c) {
    const r = region(c);
    const now = c.ctx.now();
    const imageId = str(c.params, 'ImageId');
    if (!imageId) throw new AwsError('MissingParameter', 'The request must contain the parameter ImageId');
    const count = int(c.params, 'MaxCount') ?? int(c.params, 'MinCount') ?? 1;
    if (count < 1 || count > 20) throw new AwsError('InvalidParameterValue', `Invalid value '${count}' for maxCount`);
    const sgIds = strList(c.params, 'SecurityGroupId').map((id) => findGroup(r, id).groupId);
    for (const name of strList(c.params, 'SecurityGroup')) sgIds.push(findGroup(r, undefined, name).groupId);
    const mo = (k: string) => str(c.params, 'MetadataOptions', k);
    const metadata: Partial<MetadataOptions> = {};
    const tokens = oneOf(mo('HttpTokens'), ['optional', 'required'] as const, 'HttpTokens');
    const endpoint = oneOf(mo('HttpEndpoint'), ['enabled', 'disabled'] as const, 'HttpEndpoint');
    const hops = hopLimit(int(c.params, 'MetadataOptions', 'HttpPutResponseHopLimit'));
    if (tokens) metadata.httpTokens = tokens;
    if (endpoint) metadata.httpEndpoint = endpoint;
    if (hops !== undefined) metadata.httpPutResponseHopLimit = hops;
    dryRun(c.params);
    const reservationId = `r-${hex(17)}`;
    const tags = tagsFrom(c.params, 'instance');
    const created = Array.from({ length: count }, () =>
      createInstance(
        r,
        c.region,
        {
          imageId,
          instanceType: str(c.params, 'InstanceType'),
          reservationId,
          securityGroupIds: sgIds.length ? sgIds : undefined,
          tags: { ...tags },
          metadata,
        },
        now,
      ),
    );
    return {
      reservationId,
      ownerId: c.ctx.state.accountId,
      groupSet: { item: [] },
      instancesSet: { item: created.map((i) => instanceXml(i, r, now)) },
    };
  },

  DescribeInstances(c) {
    const r = region(c);
    const now = c.ctx.now();
    const ids = strList(c.params, 'InstanceId');
    const fs = filters(c.params);
    const found = (ids.length ? findInstances(r, ids) : [...r.instances.values()]).filter((i) =>
      matchesFilters(fs, (n) => instanceFields(i, n, now), i.tags),
    );
    const reservations = new Map<string, Instance[]>();
    for (const i of found) reservations.set(i.reservationId, [...(reservations.get(i.reservationId) ?? []), i]);
    return {
      reservationSet: {
        item: [...reservations].map(([id, is]) => ({
          reservationId: id,
          ownerId: c.ctx.state.accountId,
          groupSet: { item: [] },
          instancesSet: { item: is.map((i) => instanceXml(i, r, now)) },
        })),
      },
    };
  },

  DescribeInstanceStatus(c) {
    const r = region(c);
    const ids = strList(c.params, 'InstanceId');
    const all = bool(c.params, 'IncludeAllInstances') ?? false;
    const fs = filters(c.params);
    const found = (ids.length ? findInstances(r, ids) : [...r.instances.values()])
      .filter((i) => all || i.state === 'running')
      .filter((i) => matchesFilters(fs, (n) => instanceFields(i, n, c.ctx.now()), {}));
    const check = (running: boolean) => ({
      status: running ? 'ok' : 'not-applicable',
      details: { item: running ? [{ name: 'reachability', status: 'passed' }] : [] },
    });
    return {
      instanceStatusSet: {
        item: found.map((i) => ({
          instanceId: i.instanceId,
          availabilityZone: i.availabilityZone,
          instanceState: { code: INSTANCE_STATE_CODES[i.state], name: i.state },
          systemStatus: check(i.state === 'running'),
          instanceStatus: check(i.state === 'running'),
        })),
      },
    };
  },

  ModifyInstanceMetadataOptions(c) {
    const r = region(c);
    const id = str(c.params, 'InstanceId');
    if (!id) throw new AwsError('MissingParameter', 'The request must contain the parameter InstanceId');
    const [i] = findInstances(r, [id]) as [Instance];
    if (i.state === 'terminated' || i.state === 'shutting-down') {
      throw new AwsError(
        'IncorrectInstanceState',
        `The instance '${id}' is not in a state from which it can be modified.`,
      );
    }
    const tokens = oneOf(str(c.params, 'HttpTokens'), ['optional', 'required'] as const, 'HttpTokens');
    const endpoint = oneOf(str(c.params, 'HttpEndpoint'), ['enabled', 'disabled'] as const, 'HttpEndpoint');
    const v6 = oneOf(str(c.params, 'HttpProtocolIpv6'), ['enabled', 'disabled'] as const, 'HttpProtocolIpv6');
    const tags = oneOf(str(c.params, 'InstanceMetadataTags'), ['enabled', 'disabled'] as const, 'InstanceMetadataTags');
    const hops = hopLimit(int(c.params, 'HttpPutResponseHopLimit'));
    dryRun(c.params);
    const m = i.metadata;
    if (tokens) m.httpTokens = tokens;
    if (endpoint) m.httpEndpoint = endpoint;
    if (v6) m.httpProtocolIpv6 = v6;
    if (tags) m.instanceMetadataTags = tags;
    if (hops !== undefined) m.httpPutResponseHopLimit = hops;
    const now = c.ctx.now();
    m.pendingUntil = now + c.ctx.behaviour.imdsApplyDelayMs;
    return { instanceId: i.instanceId, instanceMetadataOptions: { ...metadataXml(m, now), state: 'pending' } };
  },

  CreateTags(c) {
    const r = region(c);
    const ids = strList(c.params, 'ResourceId');
    if (!ids.length) throw new AwsError('MissingParameter', 'The request must contain the parameter resourceIdSet');
    const tags = tagsFrom(c.params);
    const targets = ids.map((id) => {
      if (id.startsWith('sg-')) return findGroup(r, id).tags;
      if (id.startsWith('i-')) return (findInstances(r, [id])[0] as Instance).tags;
      throw new AwsError('InvalidID', `The ID '${id}' is not valid`);
    });
    dryRun(c.params);
    for (const t of targets) Object.assign(t, tags);
    return { return: true };
  },
};
