import { createInstance } from './ec2-instances';
import type { SandboxState } from './state';
import { ACCOUNT_ID } from './wire';

const DAY_MS = 86_400_000;

/** Fixed ids, so a start script can print a copy-paste example without asking the sandbox. */
const SEEDED = {
  account_id: ACCOUNT_ID,
  region: 'us-east-1',
  /** `block-public-ssh`: tcp/22 open to 0.0.0.0/0. */
  security_group_id: 'sg-0ae915000000000d1',
  security_group_name: 'aegis-demo-open-ssh',
  /** `s3-block-public-access`: no PublicAccessBlock. */
  bucket: 'aegis-demo-public',
  /** `enforce-imdsv2`: HttpTokens optional. */
  imds_instance_id: 'i-0ae915000000000a1',
  /** `rotate-iam-keys`: one active key 120 days old. */
  iam_user: 'aegis-demo-user',
  iam_user_arn: `arn:aws:iam::${ACCOUNT_ID}:user/aegis-demo-user`,
  access_key_id: 'AKIAAEGISDEMO0000001',
  /** `enable-guardduty`: no detector in this region. */
  guardduty_region: 'us-east-1',
  /** `run-patch-baseline`: missing and failed patches. */
  patch_instance_id: 'i-0ae915000000000b1',
} as const;

export type SeededIds = typeof SEEDED;

/** The demo resources `seedDemo` creates, one per handler. */
export function seededIds(): SeededIds {
  return { ...SEEDED };
}

/** One misconfiguration of each kind the six handlers fix, in us-east-1. */
export function seedDemo(state: SandboxState, now: number): SeededIds {
  const s = SEEDED;
  const r = state.region(s.region);
  r.securityGroups.set(s.security_group_id, {
    groupId: s.security_group_id,
    groupName: s.security_group_name,
    description: 'Aegis demo: SSH open to the world',
    vpcId: r.defaultVpcId,
    ingress: [
      {
        ruleId: 'sgr-0ae915000000000d1',
        protocol: 'tcp',
        fromPort: 22,
        toPort: 22,
        cidrIpv4: '0.0.0.0/0',
        description: 'ssh from anywhere',
      },
      { ruleId: 'sgr-0ae915000000000d2', protocol: 'tcp', fromPort: 443, toPort: 443, cidrIpv4: '0.0.0.0/0' },
    ],
    egress: [{ ruleId: 'sgr-0ae915000000000d3', protocol: '-1', cidrIpv4: '0.0.0.0/0' }],
    tags: { Name: s.security_group_name, 'aegis:demo': 'block-public-ssh' },
  });

  state.buckets.set(s.bucket, {
    name: s.bucket,
    region: s.region,
    createdAt: now - 30 * DAY_MS,
    objects: new Map([
      [
        'index.html',
        {
          key: 'index.html',
          body: Buffer.from('<h1>public</h1>\n'),
          etag: '"5d41402abc4b2a76b9719d911017c592"',
          contentType: 'text/html',
          lastModified: now,
          metadata: {},
        },
      ],
    ]),
  });

  const imds = createInstance(
    r,
    s.region,
    { tags: { Name: 'aegis-demo-imdsv1', 'aegis:demo': 'enforce-imdsv2' } },
    now,
  );
  r.instances.delete(imds.instanceId);
  imds.instanceId = s.imds_instance_id;
  r.instances.set(imds.instanceId, imds);

  const patch = createInstance(
    r,
    s.region,
    { tags: { Name: 'aegis-demo-unpatched', 'aegis:demo': 'run-patch-baseline' } },
    now,
  );
  r.instances.delete(patch.instanceId);
  patch.instanceId = s.patch_instance_id;
  patch.metadata.httpTokens = 'required';
  Object.assign(patch.patch, {
    installed: 38,
    missing: 7,
    failed: 1,
    operationStart: now - DAY_MS,
    operationEnd: now - DAY_MS + 60_000,
  });
  r.instances.set(patch.instanceId, patch);

  state.users.set(s.iam_user, {
    userName: s.iam_user,
    userId: 'AIDAAEGISDEMO00000001',
    arn: s.iam_user_arn,
    path: '/',
    createDate: now - 200 * DAY_MS,
    tags: {},
    keys: [
      {
        accessKeyId: s.access_key_id,
        secretAccessKey: 'aegisDemoSecretKeyDoNotUseAnywhere0000000',
        status: 'Active',
        createDate: now - 120 * DAY_MS,
      },
    ],
  });
  return seededIds();
}
