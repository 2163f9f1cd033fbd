import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseDuration } from '../../packages/core/src/config';
import { DEFAULT_TIERS, TIER_NAMES } from '../../packages/core/src/tiers';
import { ROOT, isObject, readYamlObject, type Json, type JsonObject } from './helpers';

/** docker-compose.yml read as compose reads it (merge keys), checked for the structure the stack needs. */

const compose = readYamlObject('docker-compose.yml');
const services = isObject(compose.services) ? compose.services : {};

function service(name: string): JsonObject {
  const s = services[name];
  if (!isObject(s)) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
}

/** `${VAR:-default}` / `${VAR-default}` as compose resolves it with VAR unset. */
function interpolate(value: Json | undefined): string {
  return String(value ?? '').replace(/\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}/g, '$1');
}

function env(name: string): Record<string, string> {
  const e = service(name).environment;
  const out: Record<string, string> = {};
  if (isObject(e)) for (const [k, v] of Object.entries(e)) out[k] = interpolate(v);
  return out;
}

function seconds(value: Json | undefined): number {
  const ms = parseDuration(interpolate(value));
  if (ms === null) throw new Error(`not a duration: ${String(value)}`);
  return ms / 1000;
}

function volumes(name: string): string[] {
  const v = service(name).volumes;
  return Array.isArray(v) ? v.map((x) => interpolate(x)) : [];
}

const aegisServices = ['gateway', 'worker-t1', 'worker-t2', 'worker-t3', 'snapshot', 'aws-sandbox'];
const workers = TIER_NAMES.map((t) => [`worker-${t.toLowerCase()}`, t] as const);

describe('docker-compose.yml', () => {
  it('has the whole stack', () => {
    for (const s of ['redis', ...aegisServices, 'prometheus', 'grafana']) expect(Object.keys(services)).toContain(s);
  });

  it('runs Redis 7 with AOF every second and noeviction, on a volume', () => {
    const redis = service('redis');
    expect(String(redis.image)).toMatch(/^redis:7(\.|-|$)/);
    const cmd = Array.isArray(redis.command) ? redis.command.map((c) => interpolate(c)) : [];
    const flag = (name: string) => cmd[cmd.indexOf(name) + 1];
    expect(cmd[0]).toBe('redis-server');
    expect(flag('--appendonly')).toBe('yes');
    expect(flag('--appendfsync')).toBe('everysec');
    expect(flag('--maxmemory-policy')).toBe('noeviction');
    expect(volumes('redis').some((v) => /^redis-data:\/data$/.test(v))).toBe(true);
    expect(isObject(compose.volumes) && 'redis-data' in compose.volumes).toBe(true);
  });

  it.each(['redis', ...aegisServices])('%s has a healthcheck', (name) => {
    const hc = service(name).healthcheck;
    expect(isObject(hc) && Array.isArray(hc.test) && hc.test.length > 1).toBe(true);
  });

  it.each(aegisServices)('%s is built from docker/Dockerfile for an existing service folder, hardened', (name) => {
    const s = service(name);
    const build = s.build;
    expect(isObject(build)).toBe(true);
    if (!isObject(build)) return;
    expect(build.dockerfile).toBe('docker/Dockerfile');
    expect(build.context).toBe('.');
    const args = isObject(build.args) ? build.args : {};
    expect(existsSync(join(ROOT, 'services', String(args.SERVICE), 'package.json'))).toBe(true);
    expect(s.read_only).toBe(true);
    expect(s.cap_drop).toEqual(['ALL']);
    expect(s.tmpfs).toEqual(['/tmp']);
  });

  it.each(workers)('%s runs tier %s from the one worker image with its own replicas and concurrency', (name, tier) => {
    const s = service(name);
    const build = isObject(s.build) ? s.build : {};
    expect(isObject(build.args) ? build.args.SERVICE : undefined).toBe('worker');
    expect(s.image).toBe('aegis/worker:local');
    const e = env(name);
    expect(e.AEGIS_TIER).toBe(tier);
    expect(Number(e[`AEGIS_${tier}_CONCURRENCY`])).toBe(DEFAULT_TIERS[tier].concurrency);
    expect(seconds(e[`AEGIS_${tier}_TIMEOUT`])).toBe(DEFAULT_TIERS[tier].timeoutMs / 1000);
    const deploy = isObject(s.deploy) ? s.deploy : {};
    expect(Number(interpolate(deploy.replicas))).toBeGreaterThanOrEqual(1);
    expect(String(deploy.replicas)).toMatch(/\$\{AEGIS_T[123]_REPLICAS:-\d+\}/);
  });

  it.each(workers)('%s gets a stop grace period beyond the tier timeout + shutdown deadline', (name, tier) => {
    const e = env(name);
    const timeout = seconds(e[`AEGIS_${tier}_TIMEOUT`]);
    const deadline = seconds(e.AEGIS_SHUTDOWN_DEADLINE);
    expect(seconds(service(name).stop_grace_period)).toBeGreaterThan(timeout + deadline + 5);
  });

  it('mounts the snapshot volume in the snapshot service only, read-write, where its store points', () => {
    const store = env('snapshot').AEGIS_SNAPSHOT_STORE ?? '';
    expect(store).toMatch(/^file:\/\/\//);
    expect(volumes('snapshot')).toContain(`snapshots:${store.slice('file://'.length)}:rw`);
    for (const name of Object.keys(services).filter((n) => n !== 'snapshot')) {
      expect(volumes(name).some((v) => v.startsWith('snapshots:'))).toBe(false);
      expect(env(name).AEGIS_SNAPSHOT_STORE).toBeUndefined();
    }
  });

  it('points every service at Redis, the snapshot service and the aws-sandbox by default', () => {
    for (const name of ['gateway', 'worker-t1', 'worker-t2', 'worker-t3', 'snapshot']) {
      const e = env(name);
      expect(e.REDIS_URL).toBe('redis://redis:6379');
      expect(e.AEGIS_SNAPSHOT_URL).toBe('http://snapshot:8082');
      expect(e.AWS_ENDPOINT_URL).toBe('http://aws-sandbox:4566');
    }
    expect(env('aws-sandbox').AEGIS_SANDBOX_HOST).toBe('0.0.0.0');
    // No default token: compose refuses to start until the operator sets one.
    expect(env('gateway').AEGIS_API_TOKEN).toMatch(/^\$\{AEGIS_API_TOKEN:\?/);
  });

  it('waits for a healthy Redis before the Aegis services start', () => {
    for (const name of ['gateway', 'worker-t1', 'worker-t2', 'worker-t3', 'snapshot']) {
      const dep = service(name).depends_on;
      expect(isObject(dep) && isObject(dep.redis) && dep.redis.condition === 'service_healthy').toBe(true);
    }
  });

  it('publishes ports on loopback only', () => {
    for (const [name, s] of Object.entries(services)) {
      const ports = isObject(s) && Array.isArray(s.ports) ? s.ports : [];
      for (const p of ports) expect(`${name} ${interpolate(p)}`).toMatch(/ 127\.0\.0\.1:/);
    }
  });

  it('keeps Prometheus and Grafana in the observability profile, wired to the chart’s rules and dashboards', () => {
    for (const [name, s] of Object.entries(services)) {
      const profiles = isObject(s) ? s.profiles : undefined;
      if (name === 'prometheus' || name === 'grafana') expect(profiles).toEqual(['observability']);
      else expect(profiles).toBeUndefined();
    }
    expect(volumes('prometheus')).toContain('./charts/aegis/files/rules:/etc/prometheus/rules:ro');
    expect(volumes('prometheus')).toContain('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(volumes('grafana')).toContain('./charts/aegis/files/dashboards:/var/lib/grafana/dashboards/aegis:ro');
    expect(volumes('grafana')).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro');
    for (const name of Object.keys(services)) {
      for (const v of volumes(name)) {
        if (v.startsWith('./')) expect(existsSync(join(ROOT, v.split(':')[0] ?? ''))).toBe(true);
      }
    }
    expect(existsSync(join(ROOT, 'charts/aegis/files/dashboards/aegis.json'))).toBe(true);
    expect(existsSync(join(ROOT, 'charts/aegis/files/rules/aegis-rules.yaml'))).toBe(true);
  });

  it('has a Prometheus config that loads the rules directory and scrapes every Aegis service', () => {
    const prom = readYamlObject('deploy/prometheus/prometheus.yml');
    expect(prom.rule_files).toEqual(['/etc/prometheus/rules/*.yaml']);
    const text = JSON.stringify(prom.scrape_configs);
    for (const target of ['gateway:8080', 'snapshot:8082', 'worker-t1', 'worker-t2', 'worker-t3']) {
      expect(text).toContain(target);
    }
  });
});

describe('deploy/compose/real-aws.yml', () => {
  const overlay = readYamlObject('deploy/compose/real-aws.yml');
  const over = isObject(overlay.services) ? overlay.services : {};

  it('only touches services the stack has, and turns the sandbox off', () => {
    for (const name of Object.keys(over)) expect(Object.keys(services)).toContain(name);
    const sandbox = over['aws-sandbox'];
    expect(isObject(sandbox) ? sandbox.profiles : undefined).toEqual(['sandbox']);
  });

  it('clears the sandbox endpoint and dummy keys of every service that reaches the cloud', () => {
    for (const name of ['gateway', 'snapshot', 'worker-t1', 'worker-t2', 'worker-t3']) {
      const s = over[name];
      const e = isObject(s) && isObject(s.environment) ? s.environment : {};
      expect(e.AWS_ENDPOINT_URL).toBe('');
      expect(e.AWS_ACCESS_KEY_ID).toBe('');
    }
  });

  it('lets the Aegis services start without the sandbox', () => {
    for (const name of ['snapshot', 'worker-t1', 'worker-t2', 'worker-t3']) {
      const dep = service(name).depends_on;
      const sandbox = isObject(dep) ? dep['aws-sandbox'] : undefined;
      expect(isObject(sandbox) ? sandbox.required : undefined).toBe(false);
    }
  });
});
