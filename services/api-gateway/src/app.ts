import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { DispatchQueues, Runtime, SnapshotClient } from '@aegis/dispatch';
import { auditRequests } from './audit-trail';
import type { TokenStore } from './auth';
import { bullBoard } from './bull-board';
import { ApiError, errorMiddleware } from './http-errors';
import { apiDocsHtml, openApiDocument } from './openapi';
import type { RemediationService } from './remediation-service';
import { auditRoutes } from './routes/audit';
import { controlRoutes } from './routes/control';
import { findingsRoutes } from './routes/findings';
import { remediationRoutes } from './routes/remediations';
import { rollbackRoutes } from './routes/rollback';

export interface GatewayDeps {
  rt: Runtime;
  tokens: TokenStore;
  queues: DispatchQueues;
  snapshots: SnapshotClient;
  service: RemediationService;
  defaultAccount: () => Promise<string>;
  allowedAccounts: ReadonlySet<string> | null;
  basePath: string;
}

export function createApp(d: GatewayDeps) {
  const { rt } = d;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  // Request id and one log line per request (never headers: they carry tokens).
  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    const t0 = process.hrtime.bigint();
    res.on('finish', () => {
      if (req.path === '/healthz' || req.path === '/metrics') return;
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      rt.log.info(
        {
          request_id: id,
          method: req.method,
          path: req.path,
          http_status: res.statusCode,
          duration_ms: Math.round(ms * 10) / 10,
        },
        'request',
      );
    });
    next();
  });

  app.get('/healthz', (_req, res) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    const ok = await rt.redis
      .ping()
      .then((p) => p === 'PONG')
      .catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not_ready', redis: ok });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(rt.metrics.registry.contentType).send(await rt.metrics.text());
  });
  app.get(['/api/v1/openapi.json', '/openapi.json'], (_req, res) => void res.json(openApiDocument()));
  app.get('/api/docs', (_req, res) => void res.type('html').send(apiDocsHtml()));
  app.use('/admin/queues', bullBoard(d.queues, d.tokens, d.basePath));

  const api = express.Router();
  api.use(auditRequests(rt.audit, rt.log));
  api.use(auditRoutes(rt, d.tokens));
  api.use(findingsRoutes(rt, d.tokens, { allowedAccounts: d.allowedAccounts }));
  api.use(rollbackRoutes(rt, d.tokens, d.queues, d.snapshots));
  api.use(remediationRoutes(rt, d.tokens, d.service, d.defaultAccount));
  api.use(controlRoutes(rt, d.tokens, d.queues));
  app.use('/api/v1', api);

  app.use((req: Request, _res: Response, next: NextFunction) =>
    next(new ApiError(404, 'not_found', `no route ${req.method} ${req.path}`)),
  );
  app.use(errorMiddleware(rt.log));

  rt.metrics.pausedSource = async () => (await rt.store.getEmergencyStop()) !== null;
  rt.metrics.queueSource = async () => {
    const out: Record<string, Record<string, number>> = {};
    for (const q of d.queues.all())
      out[q.name] = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized', 'completed');
    return out;
  };
  return app;
}
