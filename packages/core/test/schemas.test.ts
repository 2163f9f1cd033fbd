import { FindingInput, ActionPlan, SafeId, ResourceId, BatchId, SnapshotId, isTerminal, METRIC_STATUS } from '../src';

const valid = {
  id: 'f-abc123',
  handler: 'block-public-ssh',
  provider: 'aws',
  account_id: '123456789012',
  region: 'us-east-1',
  resource_id: 'sg-0abc123def456789',
};

describe('FindingInput', () => {
  it('accepts a scanner finding with optional fields', () => {
    const f = FindingInput.parse({
      ...valid,
      severity: 'high',
      title: 't',
      dependencies: [{ resource_id: 'lt-1', relation: 'launch-template' }],
    });
    expect(f.dependencies).toHaveLength(1);
  });
  it.each([
    ['handler', { handler: 'delete-everything' }],
    ['provider', { provider: 'gcp' }],
    ['account_id', { account_id: '1234' }],
    ['region', { region: 'mars' }],
    ['resource_id', { resource_id: '../../etc/passwd' }],
    ['id', { id: 'f/../x' }],
    ['severity', { severity: 'urgent' }],
  ])('refuses a bad %s and names the field', (field, patch) => {
    const r = FindingInput.safeParse({ ...valid, ...patch });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
  it('refuses unknown fields', () => {
    expect(FindingInput.safeParse({ ...valid, evil: 1 }).success).toBe(false);
  });
});

describe('ids', () => {
  it('keeps separators and traversal out of ids', () => {
    expect(SafeId.safeParse('f-1.ok_2').success).toBe(true);
    for (const bad of ['', 'a:b', 'a/b', '.hidden', 'a b', 'x'.repeat(129)])
      expect(SafeId.safeParse(bad).success).toBe(false);
    expect(ResourceId.safeParse('arn:aws:iam::123456789012:user/svc-aegis').success).toBe(true);
    expect(ResourceId.safeParse("sg-1'; DROP TABLE").success).toBe(false);
    expect(BatchId.safeParse('batch-20260226-001').success).toBe(true);
    expect(BatchId.safeParse('batch-2026-001').success).toBe(false);
    expect(SnapshotId.safeParse('snap-001').success).toBe(true);
    expect(SnapshotId.safeParse('snap-../1').success).toBe(false);
  });
});

describe('ActionPlan and item states', () => {
  it('parses a plan', () => {
    const p = ActionPlan.parse({
      finding_id: 'f-1',
      handler: 'enforce-imdsv2',
      tier: 'T2',
      account_id: '123456789012',
      region: 'us-east-1',
      resource_id: 'i-1',
      noop: false,
      changes: ['HttpTokens optional -> required'],
      current_state: { http_tokens: 'optional' },
      planned_state: { http_tokens: 'required' },
      plan_hash: 'abc',
    });
    expect(p.tier).toBe('T2');
  });
  it('knows which states are terminal and their metric words', () => {
    expect(isTerminal('queued')).toBe(false);
    expect(isTerminal('running')).toBe(false);
    expect(isTerminal('timed_out')).toBe(true);
    expect(METRIC_STATUS.succeeded).toBe('success');
    expect(METRIC_STATUS.timed_out).toBe('timeout');
  });
});
