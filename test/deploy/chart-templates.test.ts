import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CommonEnv } from '../../packages/core/src/config';
import {
  CHART,
  chartDefaults,
  ciValueFiles,
  getPath,
  isObject,
  mergeValues,
  readTemplate,
  readYaml,
  readYamlObject,
  templateFiles,
} from './helpers';

/**
 * Invariants of the chart's templates that hold without helm: they are read as text (actions
 * between {{ }}), so a structural mistake, an unknown value or a missing label fails here first.
 * deploy/helm-check.sh runs helm lint/template where helm exists.
 */

interface Action {
  file: string;
  text: string;
}

function actions(file: string): Action[] {
  const src = readTemplate(file);
  const out: Action[] = [];
  for (const m of src.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)) {
    const text = (m[1] ?? '').trim();
    if (!text.startsWith('/*')) out.push({ file, text });
  }
  return out;
}

const BLOCK_OPENERS = /^(if|range|with|define|block)\b/;
const tpls = templateFiles();
const defaults = chartDefaults();

describe('chart templates (read as text)', () => {
  it('has every template the deployment needs', () => {
    for (const t of [
      'gateway-deployment.yaml',
      'gateway-service.yaml',
      'gateway-ingress.yaml',
      'worker-deployments.yaml',
      'worker-scaledobjects.yaml',
      'snapshot-deployment.yaml',
      'snapshot-service.yaml',
      'secret-tokens.yaml',
      'configmap.yaml',
      'serviceaccounts.yaml',
      'pdbs.yaml',
      'servicemonitor.yaml',
      'prometheusrule.yaml',
      'grafana-dashboard.yaml',
    ]) {
      expect(tpls).toContain(t);
    }
  });

  it.each(tpls)('%s: every if/range/with/define has its end, else only inside a block', (file) => {
    const stack: string[] = [];
    for (const a of actions(file)) {
      const opener = BLOCK_OPENERS.exec(a.text);
      if (opener?.[1]) stack.push(opener[1]);
      else if (/^end\b/.test(a.text)) expect(stack.pop()).toBeDefined();
      else if (/^else\b/.test(a.text)) expect(['if', 'with', 'range']).toContain(stack[stack.length - 1]);
    }
    expect(stack).toEqual([]);
  });

  it('every include names a template the chart defines', () => {
    const defined = new Set<string>();
    const included = new Set<string>();
    for (const file of tpls) {
      for (const a of actions(file)) {
        const def = /^define\s+"([^"]+)"/.exec(a.text);
        if (def?.[1]) defined.add(def[1]);
        for (const inc of a.text.matchAll(/\binclude\s+"([^"]+)"/g)) if (inc[1]) included.add(inc[1]);
      }
    }
    expect(included.size).toBeGreaterThan(5);
    for (const name of included) expect(defined).toContain(name);
  });

  it('every .Values path a template reads exists in values.yaml', () => {
    const missing: string[] = [];
    for (const file of tpls) {
      for (const a of actions(file)) {
        for (const m of a.text.matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
          const path = (m[1] ?? '').slice(1);
          if (getPath(defaults, path) === undefined) missing.push(`${file}: .Values.${path}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('every file the templates read from the chart exists', () => {
    for (const file of tpls) {
      for (const m of readTemplate(file).matchAll(/\.Files\.Get\s+"([^"]+)"/g)) {
        expect(existsSync(join(CHART, m[1] ?? ''))).toBe(true);
      }
    }
  });
});

describe('worker Deployments', () => {
  const src = readTemplate('worker-deployments.yaml');
  const helpers = readTemplate('_helpers.tpl');

  it('are rendered once per tier t1, t2, t3 from values.tiers', () => {
    expect(src).toMatch(/range \$key := list "t1" "t2" "t3"/);
    expect(src).toMatch(/\$tier := index \$\.Values\.tiers \$key/);
    expect(src).toContain('value: {{ upper $key | quote }}');
    expect(src).toContain('name: AEGIS_TIER');
  });

  it('carry app: aegis-remediation and the tier label on the Deployment and on every pod', () => {
    const appLabels = src.match(/^\s+app: \{\{ \$\.Values\.remediationName \}\}$/gm) ?? [];
    const tierLabels = src.match(/^\s+tier: \{\{ \$key \}\}$/gm) ?? [];
    // metadata + pod template (app); metadata + selector + pod template (tier)
    expect(appLabels.length).toBe(2);
    expect(tierLabels.length).toBe(3);
    const podLabels = src.slice(src.indexOf('  template:'), src.indexOf('annotations:', src.indexOf('  template:')));
    expect(podLabels).toMatch(/app: \{\{ \$\.Values\.remediationName \}\}/);
    expect(podLabels).toMatch(/tier: \{\{ \$key \}\}/);
    expect(defaults.remediationName).toBe('aegis-remediation');
  });

  it('are named <remediationName>-<tier> (aegis-remediation-t1 …) as the runbook uses them', () => {
    expect(helpers).toMatch(/define "aegis\.workerName"[\s\S]*?printf "%s-%s" \.root\.Values\.remediationName \.tier/);
    expect(src).toContain('name: {{ $name }}');
  });

  it('get terminationGracePeriodSeconds = tier timeout + shutdown deadline + margin', () => {
    expect(src).toMatch(
      /terminationGracePeriodSeconds: \{\{ include "aegis\.workerGracePeriod" \(dict "root" \$ "tier" \$tier\) \}\}/,
    );
    expect(helpers).toMatch(
      /define "aegis\.workerGracePeriod"[\s\S]*?add \.tier\.timeoutSeconds \.root\.Values\.shutdown\.deadlineSeconds \.root\.Values\.shutdown\.graceMarginSeconds/,
    );
  });

  it.each(['charts/aegis/values.yaml', ...ciValueFiles()])(
    '%s: each tier’s grace period outlasts the worker’s own exit (timeout + deadline + 5 s)',
    (file) => {
      const values =
        file.endsWith('values.yaml') && !file.includes('/ci/') ? defaults : mergeValues(defaults, readYaml(file));
      const deadline = Number(getPath(values, 'shutdown.deadlineSeconds'));
      const margin = Number(getPath(values, 'shutdown.graceMarginSeconds'));
      for (const key of ['t1', 't2', 't3']) {
        const timeout = Number(getPath(values, `tiers.${key}.timeoutSeconds`));
        const grace = timeout + deadline + margin;
        expect(grace).toBeGreaterThan(timeout + deadline + 5);
      }
    },
  );

  it('drop the fixed replica count under KEDA, and probe, harden and mount /tmp', () => {
    expect(src).toMatch(/if not \$tier\.autoscaling\.enabled \}\}\s+replicas: \{\{ \$tier\.replicas \}\}/);
    for (const needle of [
      'livenessProbe:',
      'readinessProbe:',
      'path: /healthz',
      'path: /readyz',
      'include "aegis.podSecurityContext"',
      'include "aegis.containerSecurityContext"',
      'include "aegis.tmpVolume"',
      'include "aegis.tmpMount"',
      'serviceAccountName: {{ include "aegis.serviceAccountName" (dict "root" $ "role" "worker") }}',
    ]) {
      expect(src).toContain(needle);
    }
  });
});

describe('every Deployment', () => {
  it.each(['gateway-deployment.yaml', 'worker-deployments.yaml', 'snapshot-deployment.yaml'])(
    '%s is non-root, read-only, probed and has /tmp',
    (file) => {
      const src = readTemplate(file);
      for (const needle of [
        'include "aegis.podSecurityContext"',
        'include "aegis.containerSecurityContext"',
        'include "aegis.tmpVolume"',
        'include "aegis.tmpMount"',
        'livenessProbe:',
        'readinessProbe:',
        'startupProbe:',
        'terminationGracePeriodSeconds:',
        'automountServiceAccountToken: false',
        'checksum/config:',
      ]) {
        expect(src).toContain(needle);
      }
    },
  );

  it('get their securityContext from values that pin non-root, read-only and no capabilities', () => {
    expect(getPath(defaults, 'podSecurityContext.runAsNonRoot')).toBe(true);
    expect(getPath(defaults, 'securityContext.readOnlyRootFilesystem')).toBe(true);
    expect(getPath(defaults, 'securityContext.allowPrivilegeEscalation')).toBe(false);
    expect(getPath(defaults, 'securityContext.capabilities.drop')).toEqual(['ALL']);
  });

  it('run under their own ServiceAccount: only the snapshot service gets the snapshot role', () => {
    expect(readTemplate('gateway-deployment.yaml')).toContain('(dict "root" . "role" "gateway")');
    expect(readTemplate('snapshot-deployment.yaml')).toContain('(dict "root" . "role" "snapshot")');
    expect(readTemplate('serviceaccounts.yaml')).toContain('eks.amazonaws.com/role-arn');
    const helpers = readTemplate('_helpers.tpl');
    expect(helpers).toMatch(
      /fail "serviceAccounts\.worker\.roleArn and serviceAccounts\.snapshot\.roleArn must differ/,
    );
    expect(readTemplate('configmap.yaml')).toMatch(/^\{\{- include "aegis\.validate" \. -\}\}/);
    // The store location reaches the snapshot service only.
    for (const file of ['configmap.yaml', 'gateway-deployment.yaml', 'worker-deployments.yaml']) {
      expect(readTemplate(file)).not.toContain('AEGIS_SNAPSHOT_STORE');
    }
    expect(readTemplate('snapshot-deployment.yaml')).toContain('name: AEGIS_SNAPSHOT_STORE');
  });
});

describe('configuration names', () => {
  const serviceSpecific = [
    'PORT',
    'AEGIS_API_TOKENS_FILE',
    'AEGIS_TIER',
    'AEGIS_METRICS_PORT',
    'AEGIS_SHUTDOWN_DEADLINE',
    'AEGIS_SNAPSHOT_PORT',
    'AEGIS_SNAPSHOT_STORE',
    'AEGIS_SNAPSHOT_REGION',
    'AWS_ENDPOINT_URL',
  ];
  const known = new Set([...Object.keys(CommonEnv.shape), ...serviceSpecific]);

  it('the ConfigMap and the Deployments set only names the services read', () => {
    const names = new Set<string>();
    for (const m of readTemplate('configmap.yaml').matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)) if (m[1]) names.add(m[1]);
    for (const m of readTemplate('configmap.yaml').matchAll(/^ {2}AEGIS_\{\{ upper \$key \}\}_([A-Z]+):/gm)) {
      for (const t of ['T1', 'T2', 'T3']) names.add(`AEGIS_${t}_${m[1] ?? ''}`);
    }
    for (const file of [
      'gateway-deployment.yaml',
      'worker-deployments.yaml',
      'snapshot-deployment.yaml',
      '_helpers.tpl',
    ]) {
      for (const m of readTemplate(file).matchAll(/- name: ([A-Z][A-Z0-9_]*)$/gm)) if (m[1]) names.add(m[1]);
    }
    expect(names.size).toBeGreaterThan(15);
    for (const n of names) expect(known).toContain(n);
  });
});

describe('KEDA ScaledObjects', () => {
  const src = readTemplate('worker-scaledobjects.yaml');
  const helpers = readTemplate('_helpers.tpl');

  it('are rendered per tier only when that tier’s autoscaling is enabled, targeting its Deployment', () => {
    expect(src).toMatch(/range \$key := list "t1" "t2" "t3"/);
    expect(src).toMatch(/if \$tier\.autoscaling\.enabled/);
    expect(src).toContain('kind: ScaledObject');
    expect(src).toMatch(/scaleTargetRef:\s+name: \{\{ \$name \}\}/);
    expect(src).toContain('type: prometheus');
  });

  it('scale on waiting + prioritized jobs of the tier’s queue times (1 - aegis_dispatcher_paused)', () => {
    expect(src).toContain('(printf "remediation-%s" $key)');
    const def = /define "aegis\.kedaQuery"[\s\S]*?end -\}\}/.exec(helpers)?.[0] ?? '';
    expect(def).toContain('aegis_queue_jobs{queue=\\"%s\\",state=~\\"waiting|prioritized\\"%s}');
    expect(def).toContain('* on() (1 - max(aegis_dispatcher_paused%s))');
    // Gateway replicas export the same depth: deduplicate before summing the states.
    expect(def).toContain('sum(max by (state) (');
  });
});

describe('monitoring objects', () => {
  it('are values-gated', () => {
    expect(readTemplate('servicemonitor.yaml')).toMatch(/if \$sm\.enabled/);
    expect(readTemplate('prometheusrule.yaml')).toMatch(/if \$pr\.enabled/);
    expect(readTemplate('grafana-dashboard.yaml')).toMatch(/if \$gd\.enabled/);
    expect(getPath(defaults, 'metrics.serviceMonitor.enabled')).toBe(false);
  });

  it('mount the rules and dashboards shipped under files/', () => {
    const rules = readYamlObject('charts/aegis/files/rules/aegis-rules.yaml');
    const groups = rules.groups;
    expect(Array.isArray(groups) && groups.length > 0).toBe(true);
    for (const g of Array.isArray(groups) ? groups : []) {
      expect(isObject(g) && typeof g.name === 'string').toBe(true);
      const list = isObject(g) ? g.rules : undefined;
      for (const r of Array.isArray(list) ? list : []) {
        expect(
          isObject(r) && typeof r.expr === 'string' && (typeof r.record === 'string' || typeof r.alert === 'string'),
        ).toBe(true);
      }
    }
    const dash = readYaml('charts/aegis/files/dashboards/aegis.json');
    expect(isObject(dash) && typeof dash.title === 'string' && Array.isArray(dash.panels)).toBe(true);
    expect(readTemplate('grafana-dashboard.yaml')).toContain('.Files.Glob "files/dashboards/*.json"');
  });
});
