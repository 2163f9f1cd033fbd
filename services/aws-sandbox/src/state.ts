import { ACCOUNT_ID, hex } from './wire';

export interface SgRule {
  ruleId: string;
  protocol: string;
  fromPort?: number;
  toPort?: number;
  cidrIpv4?: string;
  cidrIpv6?: string;
  description?: string;
}

export interface SecurityGroup {
  groupId: string;
  groupName: string;
  description: string;
  vpcId: string;
  ingress: SgRule[];
  egress: SgRule[];
  tags: Record<string, string>;
}

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
export const INSTANCE_STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface MetadataOptions {
  httpTokens: 'optional' | 'required';
  httpEndpoint: 'enabled' | 'disabled';
  httpPutResponseHopLimit: number;
  httpProtocolIpv6: 'enabled' | 'disabled';
  instanceMetadataTags: 'enabled' | 'disabled';
  /** Epoch ms until which the change reads as `pending`; absent once applied. */
  pendingUntil?: number;
}

export interface PatchState {
  baselineId: string;
  installed: number;
  installedOther: number;
  missing: number;
  failed: number;
  notApplicable: number;
  operation: 'Scan' | 'Install';
  operationStart: number;
  operationEnd: number;
}

export interface Instance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  state: InstanceStateName;
  launchTime: number;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  privateIpAddress: string;
  securityGroupIds: string[];
  tags: Record<string, string>;
  metadata: MetadataOptions;
  patch: PatchState;
}

export interface PublicAccessBlock {
  BlockPublicAcls: boolean;
  IgnorePublicAcls: boolean;
  BlockPublicPolicy: boolean;
  RestrictPublicBuckets: boolean;
}

export interface S3Object {
  key: string;
  body: Buffer;
  etag: string;
  contentType: string;
  lastModified: number;
  metadata: Record<string, string>;
}

export interface Bucket {
  name: string;
  region: string;
  createdAt: number;
  publicAccessBlock?: PublicAccessBlock;
  objects: Map<string, S3Object>;
}

export interface AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  status: 'Active' | 'Inactive';
  createDate: number;
  lastUsed?: { date: number; service: string; region: string };
}

export interface IamUser {
  userName: string;
  userId: string;
  arn: string;
  path: string;
  createDate: number;
  tags: Record<string, string>;
  keys: AccessKey[];
}

export interface Detector {
  detectorId: string;
  enabled: boolean;
  findingPublishingFrequency: string;
  createdAt: number;
  updatedAt: number;
  tags: Record<string, string>;
}

export type CommandStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
export const TERMINAL_FAILURES = ['Failed', 'TimedOut', 'Cancelled'] as const;
export type FailureStatus = (typeof TERMINAL_FAILURES)[number];

export interface CommandInvocation {
  instanceId: string;
  /** Where the run ends once `durationMs` has passed. */
  outcome: 'Success' | FailureStatus;
  durationMs: number;
  /** Set once the outcome has been applied to the instance's patch state. */
  settled: boolean;
}

export interface SsmCommand {
  commandId: string;
  documentName: string;
  parameters: Record<string, string[]>;
  comment: string;
  timeoutSeconds: number;
  requestedAt: number;
  invocations: CommandInvocation[];
}

export interface RegionState {
  defaultVpcId: string;
  securityGroups: Map<string, SecurityGroup>;
  instances: Map<string, Instance>;
  /** GuardDuty allows one detector per account and region. */
  detector?: Detector;
  commands: SsmCommand[];
}

/** Everything one account holds: per-region EC2/GuardDuty/SSM, its S3 buckets and IAM. */
export class SandboxState {
  constructor(readonly accountId: string = ACCOUNT_ID) {}

  regions = new Map<string, RegionState>();
  buckets = new Map<string, Bucket>();
  users = new Map<string, IamUser>();

  region(name: string): RegionState {
    let r = this.regions.get(name);
    if (!r) {
      r = { defaultVpcId: `vpc-${hex(17)}`, securityGroups: new Map(), instances: new Map(), commands: [] };
      const sg: SecurityGroup = {
        groupId: `sg-${hex(17)}`,
        groupName: 'default',
        description: 'default VPC security group',
        vpcId: r.defaultVpcId,
        ingress: [],
        egress: [{ ruleId: `sgr-${hex(17)}`, protocol: '-1', cidrIpv4: '0.0.0.0/0' }],
        tags: {},
      };
      r.securityGroups.set(sg.groupId, sg);
      this.regions.set(name, r);
    }
    return r;
  }

  clear(): void {
    this.regions.clear();
    this.buckets.clear();
    this.users.clear();
  }

  /** Finds an instance in any region (admin API). */
  findInstance(id: string): { region: string; instance: Instance } | undefined {
    for (const [region, r] of this.regions) {
      const instance = r.instances.get(id);
      if (instance) return { region, instance };
    }
    return undefined;
  }

  findAccessKey(id: string): { user: IamUser; key: AccessKey } | undefined {
    for (const user of this.users.values()) {
      const key = user.keys.find((k) => k.accessKeyId === id);
      if (key) return { user, key };
    }
    return undefined;
  }

  /** A JSON view for assertions (`GET /_sandbox/state`); objects are listed without their bytes. */
  snapshot(now: number): unknown {
    const iso = (t: number) => new Date(t).toISOString();
    return {
      account_id: this.accountId,
      regions: Object.fromEntries(
        [...this.regions].map(([name, r]) => [
          name,
          {
            default_vpc_id: r.defaultVpcId,
            security_groups: [...r.securityGroups.values()],
            instances: [...r.instances.values()].map((i) => ({
              ...i,
              launchTime: iso(i.launchTime),
              metadata: { ...i.metadata, state: metadataState(i.metadata, now) },
            })),
            guardduty_detector: r.detector ?? null,
            ssm_commands: r.commands,
          },
        ]),
      ),
      buckets: [...this.buckets.values()].map((b) => ({
        name: b.name,
        region: b.region,
        created_at: iso(b.createdAt),
        public_access_block: b.publicAccessBlock ?? null,
        objects: [...b.objects.values()].map((o) => ({
          key: o.key,
          size: o.body.length,
          etag: o.etag,
          content_type: o.contentType,
        })),
      })),
      iam_users: [...this.users.values()].map((u) => ({
        ...u,
        createDate: iso(u.createDate),
        keys: u.keys.map((k) => ({
          accessKeyId: k.accessKeyId,
          status: k.status,
          createDate: iso(k.createDate),
          lastUsed: k.lastUsed ? { ...k.lastUsed, date: iso(k.lastUsed.date) } : null,
        })),
      })),
    };
  }
}

export function metadataState(m: MetadataOptions, now: number): 'pending' | 'applied' {
  return m.pendingUntil !== undefined && now < m.pendingUntil ? 'pending' : 'applied';
}
