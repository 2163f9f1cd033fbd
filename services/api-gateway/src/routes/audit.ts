import { Router } from 'express';
import type { Runtime } from '@aegis/dispatch';
import { AuditQuery, DeliveriesQuery } from '../api-schemas-audit';
import { requireScope, type TokenStore } from '../auth';
import { parseOr400 } from '../http-errors';

/** The audit trail and webhook delivery status. */
export function auditRoutes(rt: Runtime, tokens: TokenStore): Router {
  const r = Router();
  r.get('/audit', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const q = parseOr400(AuditQuery, req.query, 'query');
    res.json(
      await rt.audit.page({
        limit: q.limit,
        ...(q.since ? { since: new Date(q.since) } : {}),
        ...(q.batch_id ? { batchId: q.batch_id } : {}),
        ...(q.cursor ? { cursor: q.cursor } : {}),
      }),
    );
  });
  r.get('/events/deliveries', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const q = parseOr400(DeliveriesQuery, req.query, 'query');
    res.json({ event_id: q.event_id, deliveries: await rt.events.deliveries(q.event_id) });
  });
  return r;
}
