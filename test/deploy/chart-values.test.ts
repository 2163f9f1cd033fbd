import { DEFAULT_TIERS, TIER_NAMES } from '../../packages/core/src/tiers';
import {
  chartDefaults,
  ciValueFiles,
  describeErrors,
  getPath,
  isObject,
  mergeValues,
  readYaml,
  valuesValidator,
  type Json,
  type JsonObject,
} from './helpers';

const validate = valuesValidator();
const defaults = chartDefaults();

function check(values: JsonObject): { ok: boolean; errors: string } {
  const ok = validate(values);
  return { ok, errors: describeErrors(validate) };
}

/** The defaults with one override applied the way `helm --set`/`-f` would. */
function withOverride(override: Json): JsonObject {
  return mergeValues(defaults, override);
}

describe('charts/aegis values against values.schema.json', () => {
  it('accepts the chart defaults', () => {
    const r = check(defaults);
    expect(r.errors).toBe('');
    expect(r.ok).toBe(true);
  });

  it('has at least one example override in charts/aegis/ci', () => {
    expect(ciValueFiles().length).toBeGreaterThanOrEqual(3);
  });

  it.each(ciValueFiles())('accepts %s merged over the defaults', (file) => {
    const r = check(withOverride(readYaml(file)));
    expect(r.errors).toBe('');
    expect(r.ok).toBe(true);
  });

  it('keeps the DESIGN.md tier table as the default per tier', () => {
    for (const tier of TIER_NAMES) {
      const values = getPath(defaults, `tiers.${tier.toLowerCase()}`);
      expect(isObject(values)).toBe(true);
      expect(getPath(defaults, `tiers.${tier.toLowerCase()}.concurrency`)).toBe(DEFAULT_TIERS[tier].concurrency);
      expect(getPath(defaults, `tiers.${tier.toLowerCase()}.timeoutSeconds`)).toBe(
        DEFAULT_TIERS[tier].timeoutMs / 1000,
      );
    }
  });

  it('names the worker Deployments after the runbook (app=aegis-remediation)', () => {
    expect(defaults.remediationName).toBe('aegis-remediation');
  });

  const rejected: Array<[string, Json, string]> = [
    ['a fourth tier', { tiers: { t4: { replicas: 1 } } }, '/tiers'],
    ['a tier without concurrency', { tiers: { t1: { concurrency: null } } }, '/tiers/t1'],
    ['zero concurrency', { tiers: { t2: { concurrency: 0 } } }, '/tiers/t2/concurrency'],
    ['a timeout given as a string', { tiers: { t3: { timeoutSeconds: '600s' } } }, '/tiers/t3/timeoutSeconds'],
    [
      'Redis Cluster without a hash-tagged prefix',
      { redis: { cluster: true }, config: { queuePrefix: 'aegis' } },
      '/config/queuePrefix',
    ],
    ['a Redis URL of another scheme', { redis: { url: 'http://redis:6379' } }, '/redis/url'],
    [
      'a file store without a volume',
      { snapshots: { store: 'file:///var/lib/aegis/snapshots' } },
      '/snapshots/persistence/enabled',
    ],
    [
      'a file store with two writers',
      { snapshots: { store: 'file:///data', persistence: { enabled: true } }, snapshot: { replicas: 2 } },
      '/snapshot/replicas',
    ],
    ['a store that is neither s3 nor file', { snapshots: { store: 'gs://bucket' } }, '/snapshots/store'],
    [
      'a plaintext token instead of its digest',
      { auth: { tokens: [{ name: 'x', sha256: 'hunter2', scopes: ['remediation:read'] }] } },
      '/auth/tokens/0/sha256',
    ],
    [
      'an unknown scope',
      { auth: { tokens: [{ name: 'x', sha256: 'a'.repeat(64), scopes: ['remediation:everything'] }] } },
      '/auth/tokens/0/scopes/0',
    ],
    ['a root container', { podSecurityContext: { runAsNonRoot: false } }, '/podSecurityContext/runAsNonRoot'],
    [
      'a writable root filesystem',
      { securityContext: { readOnlyRootFilesystem: false } },
      '/securityContext/readOnlyRootFilesystem',
    ],
    [
      'privilege escalation',
      { securityContext: { allowPrivilegeEscalation: true } },
      '/securityContext/allowPrivilegeEscalation',
    ],
    [
      'capabilities not dropped',
      { securityContext: { capabilities: { drop: ['NET_RAW'] } } },
      '/securityContext/capabilities/drop',
    ],
    [
      'an added capability',
      { securityContext: { capabilities: { drop: ['ALL'], add: ['NET_ADMIN'] } } },
      '/securityContext/capabilities/add',
    ],
    [
      'a grace margin below the worker’s own 5 s slack',
      { shutdown: { graceMarginSeconds: 5 } },
      '/shutdown/graceMarginSeconds',
    ],
    ['a duration the services cannot parse', { config: { planTtl: '1 day' } }, '/config/planTtl'],
    [
      'an IRSA annotation that is not a role ARN',
      { serviceAccounts: { worker: { roleArn: 'aegis-worker' } } },
      '/serviceAccounts/worker/roleArn',
    ],
    [
      'KEDA autoscaling without a Prometheus address',
      { tiers: { t1: { autoscaling: { enabled: true } } }, keda: { prometheus: { serverAddress: '' } } },
      '/keda/prometheus/serverAddress',
    ],
    ['a misspelt top-level key', { teirs: {} }, '/'],
    ['an unknown log level', { config: { logLevel: 'verbose' } }, '/config/logLevel'],
  ];

  it.each(rejected)('rejects %s (at %s)', (_what, override, path) => {
    const r = check(withOverride(override));
    expect(r.ok).toBe(false);
    expect(r.errors).toContain(`${path} `);
  });

  it('accepts Redis Cluster with the {aegis} prefix and KEDA with an address', () => {
    const r = check(
      withOverride({
        redis: { cluster: true, url: 'redis://redis-cluster:6379' },
        config: { queuePrefix: '{aegis}' },
        tiers: { t2: { autoscaling: { enabled: true } } },
      }),
    );
    expect(r.errors).toBe('');
  });
});

describe('values helpers', () => {
  it('merge like Helm: maps merge, lists replace, null deletes', () => {
    const merged = mergeValues({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { c: [3] }, d: null });
    expect(merged).toEqual({ a: { b: 1, c: [3] } });
  });
});
