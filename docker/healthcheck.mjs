/* global process, fetch, AbortSignal */
// The image's HEALTHCHECK: the service's own /readyz on its own port (the aws-sandbox: its admin API).
const service = process.env.AEGIS_SERVICE ?? '';
const env = process.env;
const targets = {
  'api-gateway': { port: env.PORT ?? '8080', path: '/readyz' },
  worker: { port: env.AEGIS_METRICS_PORT ?? '9464', path: '/readyz' },
  snapshot: { port: env.AEGIS_SNAPSHOT_PORT ?? '8082', path: '/readyz' },
  'aws-sandbox': { port: env.AEGIS_SANDBOX_PORT ?? '4566', path: '/_sandbox/config' },
};
const target = targets[service];
if (!target) {
  process.stderr.write(`healthcheck: unknown AEGIS_SERVICE "${service}"\n`);
  process.exit(1);
}
try {
  const res = await fetch(`http://127.0.0.1:${target.port}${target.path}`, { signal: AbortSignal.timeout(4000) });
  if (res.status !== 200) {
    process.stderr.write(`healthcheck: ${service} ${target.path} answered ${res.status}\n`);
    process.exit(1);
  }
} catch (err) {
  process.stderr.write(`healthcheck: ${service} not reachable: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
