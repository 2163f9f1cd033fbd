import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '@aegis/core';
import type { AuditInput, AuditLog } from '@aegis/dispatch';
import type { Principal } from './auth';

type Action = AuditInput['action'];

/** The audited requests, by method and path under /api/v1; the body's `dry_run` splits some. */
function actionOf(method: string, path: string, dryRun: boolean): Action | null {
  if (method === 'POST' && path === '/remediations') return dryRun ? 'dry_run' : 'execute';
  if (method === 'POST' && /^\/remediations\/handlers\/[^/]+$/.test(path))
    return dryRun ? 'single_dry_run' : 'single_execute';
  if (method === 'POST' && /^\/remediations\/[^/]+\/rollback$/.test(path))
    return dryRun ? 'rollback_dry_run' : 'rollback';
  if (path === '/emergency-stop') return method === 'POST' ? 'emergency_stop' : method === 'DELETE' ? 'resume' : null;
  return null;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});

/**
 * Records every audited request once its answer is sent, accepted or refused: the caller's token
 * name (never the token), the batch, findings, snapshot and change ticket, and the outcome.
 */
export function auditRequests(audit: AuditLog, log: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const method = req.method;
    const path = req.path;
    if (actionOf(method, path, false) === null) return next();
    let answer: unknown;
    const json = res.json.bind(res);
    res.json = (b: unknown) => {
      answer = b;
      return json(b);
    };
    res.on('finish', () => {
      const body = obj(req.body);
      const out = obj(answer);
      const action = actionOf(method, path, body.dry_run === true) as Action;
      const principal = res.locals.principal as Principal | undefined;
      // Nobody to name: an unauthenticated request is in the request log, not the audit trail
      // (which is kept 400 days, so a flood of 401s must not be able to fill Redis).
      if (!principal) return;
      const ok = res.statusCode < 400;
      const batchFromPath = /^\/remediations\/([^/]+)\/rollback$/.exec(path)?.[1] ?? null;
      const entry: AuditInput = {
        actor: principal?.name ?? 'unauthenticated',
        action,
        batch_id: str(out.batch_id) ?? str(body.batch_id) ?? batchFromPath,
        // A refused body may hold anything: keep a bounded sample of it.
        finding_ids: Array.isArray(body.finding_ids)
          ? body.finding_ids.filter((f) => typeof f === 'string').slice(0, ok ? undefined : 100)
          : [],
        snapshot_id: str(body.snapshot_id),
        change_ticket: str(body.change_ticket),
        outcome: ok
          ? (str(out.status) ?? (action === 'resume' ? 'resumed' : 'ok'))
          : (str(obj(out.error).code) ?? 'error'),
        http_status: res.statusCode,
        detail: ok ? (str(body.reason) ?? str(body.resource_id)) : str(obj(out.error).message),
      };
      audit
        .record(entry)
        .catch((err: unknown) => log.error({ err: (err as Error).message, action }, 'audit record not written'));
    });
    next();
  };
}
