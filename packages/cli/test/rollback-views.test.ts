import { RollbackAccepted, RollbackPreview } from '../src/api-types';
import { renderLocalCheck, renderRollbackAccepted, renderRollbackPreview, rollbackReady } from '../src/rollback-views';

const preview = RollbackPreview.parse({
  batch_id: 'batch-20260226-001',
  dry_run: true,
  rollbacks: [
    {
      snapshot_id: 'snap-002',
      finding_id: 'f-2',
      resource_id: 'sg-2',
      handler: 'block-public-ssh',
      expires_at: '2026-02-28T10:00:00.000Z',
      changes: ['undo: revoke tcp 22 from 0.0.0.0/0'],
      drift: null,
    },
    {
      snapshot_id: 'snap-001',
      finding_id: 'f-1',
      resource_id: 'i-1',
      handler: 'run-patch-baseline',
      changes: [],
      refused: { code: 'irreversible', message: 'run-patch-baseline cannot be rolled back: patches stay installed' },
    },
  ],
});

describe('rollback views', () => {
  it('lists each snapshot with its verdict and why one is refused', () => {
    const text = renderRollbackPreview(preview, 'batch-20260226-001').join('\n');
    expect(text).toContain('Rollback of batch-20260226-001: 1 of 2 snapshots can be restored');
    expect(text).toMatch(/snap-002 +f-2 +block-public-ssh +sg-2 +2026-02-28T10:00:00.000Z +ready +undo: revoke tcp 22/);
    expect(text).toMatch(/snap-001 .* refused: irreversible/);
    expect(text).toContain('snap-001: run-patch-baseline cannot be rolled back: patches stay installed');
    expect(rollbackReady(preview).map((a) => a.snapshot_id)).toEqual(['snap-002']);
  });

  it('says what was queued and what was refused', () => {
    const a = RollbackAccepted.parse({
      batch_id: 'batch-20260226-001',
      rollback_status: 'rolling_back',
      accepted: ['snap-002'],
      refused: [{ snapshot_id: 'snap-001', code: 'drifted', message: 'sg-1 changed since the remediation' }],
    });
    expect(renderRollbackAccepted(a)).toEqual([
      'Rollback of batch-20260226-001 queued for 1 snapshot: snap-002',
      '  refused snap-001: sg-1 changed since the remediation',
    ]);
  });

  it('shows a manual rollback check with live state, restore state and drift', () => {
    const text = renderLocalCheck({
      snapshot_id: 'snap-001',
      batch_id: 'batch-20260226-001',
      finding_id: 'f-1',
      handler: 'block-public-ssh',
      resource_id: 'sg-1',
      account_id: '123456789012',
      region: 'us-east-1',
      taken_at: '2026-02-26T10:00:00.000Z',
      expired: true,
      changes: ['revoke tcp 22 from 0.0.0.0/0'],
      current_state: { grants: [] },
      restore_state: { grants: ['tcp 22 0.0.0.0/0'] },
      drift: null,
    }).join('\n');
    expect(text).toContain('taken 2026-02-26T10:00:00.000Z — past the rollback window');
    expect(text).toContain('  - revoke tcp 22 from 0.0.0.0/0');
    expect(text).toMatch(/Live state now:\n {2}\{\n {4}"grants": \[\]\n {2}\}/);
    expect(text).toContain('Drift: none');
  });
});
