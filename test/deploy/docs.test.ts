import { readYamlObject, readText, isObject } from './helpers';

/** docs/runbook.md and docs/deploy.md: the commands an operator copies must fit this deployment. */

function codeBlocks(markdown: string, lang: string): string[] {
  return [...markdown.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1] ?? '');
}

/** Shell commands of the bash blocks, continuation lines joined, comments dropped. */
function commands(markdown: string): string[] {
  return codeBlocks(markdown, 'bash')
    .flatMap((block) => block.replace(/\\\n\s*/g, ' ').split('\n'))
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}

const runbook = readText('docs/runbook.md');
const deploy = readText('docs/deploy.md');

describe('docs/runbook.md', () => {
  const cmds = commands(runbook);

  it('targets our gateway, not the seed runbook’s host', () => {
    expect(runbook).not.toContain('api.aegis.io');
    const apiCalls = cmds.filter((c) => c.includes('/api/v1/') && !c.includes('prometheus:9090'));
    expect(apiCalls.filter((c) => !c.includes('$AEGIS_API_URL/api/v1/'))).toEqual([]);
  });

  it('sends the token on every API call, reads included', () => {
    const apiCalls = cmds.filter((c) => /curl .*\$AEGIS_API_URL\/api\/v1\//.test(c));
    expect(apiCalls.length).toBeGreaterThan(15);
    for (const c of apiCalls) expect(c).toContain('-H "Authorization: Bearer $API_TOKEN"');
    expect(apiCalls.filter((c) => c.includes('curl -sf')).length).toBeGreaterThanOrEqual(6);
  });

  it('addresses the per-tier worker Deployments and selects pods by app=aegis-remediation', () => {
    const kubectl = cmds.filter((c) => c.includes('kubectl'));
    for (const c of kubectl) {
      // A Deployment name always carries its tier; the bare name only appears as a label value.
      for (const m of c.matchAll(/aegis-remediation(?![-\w])/g)) {
        expect(c.slice(0, m.index)).toMatch(/(-l |app=)$/);
      }
    }
    for (const tier of ['t1', 't2', 't3']) expect(runbook).toContain(`aegis-remediation-${tier}`);
    expect(kubectl.some((c) => c.includes('"aegis-remediation-$tier"'))).toBe(true);
    expect(kubectl.some((c) => c.includes('-l app=aegis-remediation'))).toBe(true);
  });

  it('leads the emergency stop with the API and keeps kubectl as the fallback', () => {
    const section = runbook.slice(runbook.indexOf('## Emergency Stop'), runbook.indexOf('## Troubleshooting'));
    const stopCli = section.indexOf('./aegis stop --reason');
    const stopApi = section.indexOf('-X POST "$AEGIS_API_URL/api/v1/emergency-stop"');
    const fallback = section.indexOf('/spec/replicas');
    expect(stopCli).toBeGreaterThan(-1);
    expect(stopApi).toBeGreaterThan(stopCli);
    expect(fallback).toBeGreaterThan(stopApi);
    expect(section).toContain('./aegis resume');
    expect(section).toContain('autoscaling.keda.sh/paused-replicas');
  });

  it('gives the T1 SLA as a recording rule over the 300 s bucket, which the rule file defines', () => {
    expect(runbook).not.toMatch(/duration_bucket=~/);
    const rules = readYamlObject('charts/aegis/files/rules/aegis-rules.yaml');
    const records = new Map<string, string>();
    for (const g of Array.isArray(rules.groups) ? rules.groups : []) {
      const list = isObject(g) && Array.isArray(g.rules) ? g.rules : [];
      for (const r of list) {
        if (isObject(r) && typeof r.record === 'string' && typeof r.expr === 'string') records.set(r.record, r.expr);
      }
    }
    const name = /query=(aegis:[a-z0-9_:]+)/.exec(runbook)?.[1] ?? '';
    expect(records.get(name)).toContain('aegis_remediation_duration_seconds_bucket{tier="T1",le="300"}');
    expect(records.get(name)).toContain('aegis_remediation_duration_seconds_count{tier="T1"}');
  });
});

describe('docs/deploy.md', () => {
  it('has a 30-day S3 lifecycle rule for the snapshots', () => {
    const rule = codeBlocks(deploy, 'json')
      .map((b) => JSON.parse(b) as unknown)
      .find(
        (j): j is { Rules: Array<{ Expiration?: { Days?: number }; Filter?: { Prefix?: string } }> } =>
          typeof j === 'object' && j !== null && 'Rules' in j,
      );
    expect(rule?.Rules[0]?.Expiration?.Days).toBe(30);
    expect(rule?.Rules[0]?.Filter?.Prefix).toBe('remediations/');
  });

  it('covers compose, the chart, scaling, Redis Cluster, real AWS and retention', () => {
    for (const heading of [
      '## Compose',
      '## Kubernetes (Helm)',
      '## Scaling a tier',
      '## Redis Cluster',
      '## Real AWS on Kubernetes (IRSA)',
      '## Snapshot bucket retention',
    ]) {
      expect(deploy).toContain(heading);
    }
    expect(deploy).toContain("queuePrefix: '{aegis}'");
  });
});
