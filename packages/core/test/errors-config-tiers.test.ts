import {
  classifyError,
  classifyCode,
  parseEnv,
  CommonEnv,
  ConfigError,
  parseDuration,
  resolveTiers,
  tierOf,
  formatBatchId,
  formatSnapshotId,
  DEFAULT_TIERS,
} from '../src';

describe('error taxonomy', () => {
  it.each([
    ['AccessDenied', 'permanent'],
    ['UnauthorizedOperation', 'permanent'],
    ['RequestLimitExceeded', 'throttled'],
    ['ThrottlingException', 'throttled'],
    ['ConflictException', 'conflict'],
    ['IncorrectState', 'conflict'],
    ['ResourceInUse', 'conflict'],
    ['InvalidGroup.NotFound', 'not_found'],
    ['NoSuchBucket', 'not_found'],
    ['NoSuchEntity', 'not_found'],
    ['InternalError', 'transient'],
  ])('%s is %s', (code, cls) => expect(classifyCode(code)).toBe(cls));

  it('reads the code and HTTP status off an SDK error', () => {
    const err = Object.assign(new Error('denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(classifyError(err)).toMatchObject({ class: 'permanent', code: 'AccessDenied', httpStatus: 403 });
    const bare403 = Object.assign(new Error('x'), { name: 'SomethingNew', $metadata: { httpStatusCode: 403 } });
    expect(classifyError(bare403).class).toBe('permanent');
    const throttled = Object.assign(new Error('x'), { name: 'Odd', $retryable: { throttling: true } });
    expect(classifyError(throttled).class).toBe('throttled');
    expect(classifyError('boom')).toMatchObject({ class: 'transient', code: 'InternalError' });
  });
});

describe('config', () => {
  it('applies DESIGN.md defaults', () => {
    const c = parseEnv(CommonEnv, {});
    expect(c.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(c.AEGIS_QUEUE_PREFIX).toBe('aegis');
    expect(c.AEGIS_PLAN_TTL).toBe(24 * 3600_000);
    expect(c.AEGIS_ROLLBACK_WINDOW).toBe(48 * 3600_000);
    expect(c.AEGIS_BATCH_MAX_FAILURE_PCT).toBe(20);
    expect(c.AEGIS_KEY_MAX_AGE_DAYS).toBe(90);
  });
  it('names the variable and the value it refused', () => {
    expect(() => parseEnv(CommonEnv, { AEGIS_ROLLBACK_WINDOW: 'soon', AEGIS_T1_CONCURRENCY: '-3' })).toThrow(
      ConfigError,
    );
    try {
      parseEnv(CommonEnv, { AEGIS_ROLLBACK_WINDOW: 'soon', AEGIS_T1_CONCURRENCY: '-3', AEGIS_CLOUD: 'gcp' });
    } catch (e) {
      const msg = (e as ConfigError).message;
      expect(msg).toMatch(/AEGIS_ROLLBACK_WINDOW: "soon" is not a duration/);
      expect(msg).toMatch(/AEGIS_T1_CONCURRENCY: .*\(got "-3"\)/);
      expect(msg).toMatch(/AEGIS_CLOUD: .*(aws|sandbox).*\(got "gcp"\)/);
    }
  });
  it('takes the rate budget share as a fraction above 0 and at most 1', () => {
    expect(parseEnv(CommonEnv, {}).AEGIS_RATE_BUDGET_SHARE).toBe(0.95);
    expect(parseEnv(CommonEnv, { AEGIS_RATE_BUDGET_SHARE: '0.8' }).AEGIS_RATE_BUDGET_SHARE).toBe(0.8);
    for (const bad of ['0', '1.5', 'most'])
      expect(() => parseEnv(CommonEnv, { AEGIS_RATE_BUDGET_SHARE: bad })).toThrow(/AEGIS_RATE_BUDGET_SHARE/);
  });

  it('parses JSON settings and names what is wrong', () => {
    expect(
      parseEnv(CommonEnv, { AEGIS_ACCOUNT_ROLES: '{"111111111111":"arn:aws:iam::111111111111:role/X"}' })
        .AEGIS_ACCOUNT_ROLES,
    ).toEqual({
      '111111111111': 'arn:aws:iam::111111111111:role/X',
    });
    expect(() => parseEnv(CommonEnv, { AEGIS_ACCOUNT_ROLES: '{nope' })).toThrow(/AEGIS_ACCOUNT_ROLES: must be JSON/);
    expect(() => parseEnv(CommonEnv, { AEGIS_ACCOUNT_ROLES: '{"1":"x"}' })).toThrow(/12-digit account id to role ARN/);
    expect(parseEnv(CommonEnv, {}).AEGIS_ACCOUNT_ROLES).toBeUndefined();
  });

  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('48h')).toBe(172_800_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('30')).toBe(30_000);
    expect(parseDuration('1w')).toBeNull();
  });
});

describe('tiers', () => {
  it('has the DESIGN.md table and overrides', () => {
    expect(DEFAULT_TIERS.T1).toMatchObject({ concurrency: 10, timeoutMs: 30_000 });
    expect(DEFAULT_TIERS.T3).toMatchObject({ concurrency: 2, timeoutMs: 600_000 });
    expect(tierOf('enable-guardduty')).toBe('T2');
    expect(tierOf('rotate-iam-keys')).toBe('T3');
    const t = resolveTiers({ T1: { concurrency: 3 }, T3: { timeoutMs: 1000 } });
    expect(t.T1).toMatchObject({ concurrency: 3, timeoutMs: 30_000 });
    expect(t.T2.concurrency).toBe(5);
    expect(t.T3.timeoutMs).toBe(1000);
  });
  it('formats ids', () => {
    expect(formatBatchId(new Date('2026-02-26T10:00:00Z'), 1)).toBe('batch-20260226-001');
    expect(formatSnapshotId(12)).toBe('snap-012');
  });
});
