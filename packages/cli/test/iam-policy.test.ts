import type { Handler } from '@aegis/handlers';
import { ALL_HANDLERS } from '@aegis/handlers/src/handlers';
import { buildIamPolicy, policyActions, sidFor } from '../src/iam-policy';

describe('iam-policy over every registered handler', () => {
  const worker = buildIamPolicy(ALL_HANDLERS, { role: 'worker', bucket: 'aegis-snapshots' });
  const snapshot = buildIamPolicy(ALL_HANDLERS, { role: 'snapshot', bucket: 'acme-snaps' });

  it('has handlers to walk', () => {
    expect(ALL_HANDLERS.length).toBeGreaterThan(0);
  });

  it.each(ALL_HANDLERS.map((h) => [h.name, h] as const))(
    'worker and snapshot policies allow every action %s declares',
    (_name, h: Handler) => {
      expect(h.iamActions.length).toBeGreaterThan(0);
      for (const role of [worker, snapshot]) {
        const st = role.Statement.find((s) => s.Sid === sidFor(h.name));
        expect(st).toBeDefined();
        expect(st?.Action).toEqual(expect.arrayContaining([...h.iamActions]));
        expect(policyActions(role)).toEqual(expect.arrayContaining([...h.iamActions]));
      }
    },
  );

  it('allows nothing a handler did not declare (least privilege)', () => {
    const declared = new Set(ALL_HANDLERS.flatMap((h) => h.iamActions));
    expect(policyActions(worker).filter((a) => !declared.has(a))).toEqual([]);
    const extra = policyActions(snapshot).filter((a) => !declared.has(a));
    expect(extra.sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject'].filter((a) => !declared.has(a)));
  });

  it('is a valid policy document: version, Allow, unique alphanumeric Sids', () => {
    for (const p of [worker, snapshot]) {
      expect(p.Version).toBe('2012-10-17');
      const sids = p.Statement.map((s) => s.Sid);
      expect(new Set(sids).size).toBe(sids.length);
      for (const s of p.Statement) {
        expect(s.Sid).toMatch(/^[A-Za-z0-9]+$/);
        expect(s.Effect).toBe('Allow');
        expect(s.Action.length).toBeGreaterThan(0);
      }
    }
  });

  it('gives the snapshot bucket to the snapshot role only, scoped to that bucket', () => {
    expect(JSON.stringify(worker)).not.toContain('arn:aws:s3:::');
    const bucket = snapshot.Statement.filter((s) => s.Sid.startsWith('Snapshot'));
    expect(bucket).toEqual([
      { Sid: 'SnapshotBucketList', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: 'arn:aws:s3:::acme-snaps' },
      {
        Sid: 'SnapshotObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject'],
        Resource: 'arn:aws:s3:::acme-snaps/*',
      },
    ]);
  });
});

describe('sidFor', () => {
  it('turns handler names into statement ids', () => {
    expect(sidFor('block-public-ssh')).toBe('BlockPublicSsh');
    expect(sidFor('s3-block-public-access')).toBe('S3BlockPublicAccess');
    expect(sidFor('enforce-imdsv2')).toBe('EnforceImdsv2');
  });
});
