import { formatDuration, plural, renderKeyValues, renderRecords, renderTable } from '../src/format';
import {
  batchHasFailures,
  isStopped,
  renderPreview,
  renderReport,
  renderStatus,
  renderStopState,
  renderSummary,
} from '../src/views';
import { BatchStatus, DryRunResponse } from '../src/api-types';

describe('renderTable', () => {
  it('aligns columns two spaces apart and does not pad the last one', () => {
    const lines = renderTable(
      [
        { header: 'A', value: (r: { a: string; b: string }) => r.a },
        { header: 'BB', value: (r: { a: string; b: string }) => r.b },
      ],
      [
        { a: 'long-value', b: 'x' },
        { a: 's', b: 'yy' },
      ],
    );
    expect(lines).toEqual(['A           BB', 'long-value  x', 's           yy']);
  });

  it('makes a row as tall as its tallest cell', () => {
    const lines = renderTable(
      [
        { header: 'ID', value: (r: { id: string; changes: string[] }) => r.id },
        { header: 'CHANGES', value: (r: { id: string; changes: string[] }) => r.changes },
      ],
      [{ id: 'f-1', changes: ['revoke a', 'authorize b'] }],
    );
    expect(lines).toEqual(['ID   CHANGES', 'f-1  revoke a', '     authorize b']);
  });

  it('renders a header alone for no rows', () => {
    expect(renderTable([{ header: 'X', value: () => '' }], [])).toEqual(['X']);
  });
});

describe('small formatters', () => {
  it.each([
    [undefined, '-'],
    [0, '0s'],
    [42.4, '42s'],
    [184, '3m 04s'],
    [3720, '1h 02m'],
  ])('formatDuration(%p) = %p', (s, want) => expect(formatDuration(s)).toBe(want));

  it('pluralises', () => {
    expect(plural(1, 'action')).toBe('1 action');
    expect(plural(2, 'action')).toBe('2 actions');
  });

  it('shows objects of unknown shape', () => {
    expect(renderKeyValues({ total: 3, success_rate: 0.5, by: null })).toEqual([
      'total:        3',
      'success_rate: 0.5',
      'by:           -',
    ]);
    expect(
      renderRecords([
        { handler: 'h', total: 1 },
        { handler: 'g', extra: true },
      ]),
    ).toEqual(['HANDLER  TOTAL  EXTRA', 'h        1      -', 'g        -      true']);
  });
});

const preview = DryRunResponse.parse({
  batch_id: 'batch-20260226-001',
  estimated_duration_s: 4,
  actions_preview: [
    {
      finding_id: 'f-1',
      handler: 'block-public-ssh',
      tier: 'T1',
      resource_id: 'sg-0abc',
      noop: false,
      changes: ['revoke tcp 22 from 0.0.0.0/0', 'revoke tcp 3389 from ::/0'],
    },
    { finding_id: 'f-2', handler: 'enforce-imdsv2', tier: 'T2', resource_id: 'i-1', noop: true, changes: [] },
    {
      finding_id: 'f-3',
      handler: 'enforce-imdsv2',
      tier: 'T2',
      resource_id: 'i-2',
      noop: true,
      changes: [],
      skip_reason: 'instance is terminated',
    },
    {
      finding_id: 'f-4',
      handler: 'enforce-imdsv2',
      tier: 'T2',
      resource_id: 'i-3',
      noop: true,
      error: 'resource_not_found',
    },
  ],
});

describe('renderPreview', () => {
  const text = renderPreview(preview).join('\n');
  it('shows every finding with handler, tier, resource, noop and each change', () => {
    expect(text).toContain('FINDING  HANDLER           TIER  RESOURCE  NOOP  CHANGES');
    expect(text).toMatch(/f-1 +block-public-ssh +T1 +sg-0abc +no +revoke tcp 22 from 0.0.0.0\/0/);
    expect(text).toMatch(/\n +revoke tcp 3389 from ::\/0/);
    expect(text).toMatch(/f-2 .* yes +\(already compliant\)/);
    expect(text).toContain('skipped: instance is terminated');
    expect(text).toContain('error: resource_not_found');
  });
  it('ends with the batch id and the counts', () => {
    expect(text).toContain('batch_id: batch-20260226-001  ·  4 actions, 1 to change, 2 noop, 1 error, estimated 4s');
  });
});

const status = (over: Partial<Record<string, unknown>>) =>
  BatchStatus.parse({
    batch_id: 'batch-20260226-002',
    status: 'completed',
    completed: 2,
    failed: 0,
    pending: 0,
    elapsed_s: 7,
    rollback_status: 'none',
    items: [
      {
        finding_id: 'f-1',
        handler: 'block-public-ssh',
        tier: 'T1',
        resource_id: 'sg-1',
        state: 'succeeded',
        attempts: 1,
        snapshot_id: 'snap-001',
      },
      { finding_id: 'f-2', handler: 'block-public-ssh', tier: 'T1', resource_id: 'sg-2', state: 'noop', attempts: 1 },
    ],
    ...over,
  });

describe('status and summary', () => {
  it('a completed batch has no failures and says so', () => {
    const s = status({});
    expect(batchHasFailures(s)).toBe(false);
    expect(renderSummary(s)).toEqual(['Batch batch-20260226-002 completed: 2 items done in 7s']);
    expect(renderStatus(s)[0]).toBe('batch-20260226-002  completed  ·  2 completed, 0 failed, 0 pending, elapsed 7s');
  });

  it('a failed item, or a stopped batch, counts as failure and is listed', () => {
    const s = status({
      status: 'completed_with_failures',
      completed: 1,
      failed: 1,
      items: [
        {
          finding_id: 'f-9',
          handler: 'rotate-iam-keys',
          resource_id: 'u',
          state: 'failed',
          error: 'AccessDenied',
          error_message: 'not allowed to iam:UpdateAccessKey',
        },
      ],
    });
    expect(batchHasFailures(s)).toBe(true);
    const sum = renderSummary(s).join('\n');
    expect(sum).toContain('finished with failures (completed_with_failures): 1 failed');
    expect(sum).toContain('f-9 rotate-iam-keys u: failed (AccessDenied: not allowed to iam:UpdateAccessKey)');
    expect(batchHasFailures(status({ status: 'stopped' }))).toBe(true);
    expect(batchHasFailures(status({ status: 'running', pending: 1 }))).toBe(false);
  });
});

describe('report and emergency-stop views', () => {
  it('shows success_rate (a ratio) and *_pct (a percent) as percentages', () => {
    expect(renderReport({ total: 4, success_rate: 0.75, sla_compliance_pct: 100 })).toEqual([
      '  total:              4',
      '  success_rate:       75%',
      '  sla_compliance_pct: 100%',
    ]);
    expect(renderReport([{ handler: 'block-public-ssh', total: 2, success_rate: 1, avg_duration_s: 0.4 }])).toEqual([
      'HANDLER           TOTAL  SUCCESS_RATE  AVG_DURATION_S',
      'block-public-ssh  2      100%          0.4',
    ]);
    expect(renderReport([])).toEqual(['(no remediations in this period)']);
  });

  it('shows who stopped the dispatcher and what is in flight per tier', () => {
    const raw = {
      paused: true,
      stopped: true,
      reason: 'investigating',
      stopped_by: 'dev',
      in_flight: { T1: { active: 0, waiting: 3, delayed: 0 } },
    };
    expect(isStopped(raw)).toBe(true);
    expect(isStopped({ paused: false })).toBe(false);
    expect(renderStopState(raw)).toEqual([
      '  reason:     investigating',
      '  stopped_by: dev',
      '',
      '  TIER  ACTIVE  WAITING  DELAYED',
      '  T1    0       3        0',
    ]);
  });
});
