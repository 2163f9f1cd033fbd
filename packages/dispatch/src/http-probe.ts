import { createServer, type Server } from 'node:http';
import type { DispatchMetrics } from './metrics';

/** The small metrics/health port of a worker: /healthz (alive), /readyz (ready to work), /metrics. */
export function startProbeServer(opts: {
  port: number;
  host?: string;
  metrics: DispatchMetrics;
  ready: () => Promise<boolean>;
}): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/healthz')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      if (path === '/readyz') {
        const ok = await opts.ready().catch(() => false);
        return void res
          .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: ok ? 'ready' : 'not_ready' }));
      }
      if (path === '/metrics') {
        const body = await opts.metrics.text();
        return void res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(body);
      }
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"no such path"}}');
    })();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve(server));
  });
}
