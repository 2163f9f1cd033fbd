import { Router } from 'express';
import { TIER_NAMES } from '@aegis/core';
import type { DispatchQueues, Runtime } from '@aegis/dispatch';
import { EmergencyStopRequest } from '../api-schemas';
import { principalOf, requireScope, type TokenStore } from '../auth';
import { jsonBody } from '../body';
import { parseOr400 } from '../http-errors';

/** Emergency stop, and the handler catalogue. */
export function controlRoutes(rt: Runtime, tokens: TokenStore, queues: DispatchQueues): Router {
  const r = Router();

  async function inFlight() {
    const out: Record<string, { active: number; waiting: number; delayed: number }> = {};
    for (const t of TIER_NAMES) {
      const c = await queues.tiers[t].getJobCounts('active', 'waiting', 'delayed', 'prioritized');
      out[t] = { active: c.active ?? 0, waiting: (c.waiting ?? 0) + (c.prioritized ?? 0), delayed: c.delayed ?? 0 };
    }
    return out;
  }

  async function state() {
    const stop = await rt.store.getEmergencyStop();
    return { paused: stop !== null, stopped: stop !== null, ...(stop ?? {}), in_flight: await inFlight() };
  }

  r.post('/emergency-stop', requireScope(tokens, 'remediation:admin'), ...jsonBody(), async (req, res) => {
    const body = parseOr400(EmergencyStopRequest, req.body ?? {});
    const who = principalOf(res).name;
    // Global pause first (stored in Redis: every replica stops taking jobs), then the flag that
    // running items check right before their apply step.
    await Promise.all(TIER_NAMES.map((t) => queues.tiers[t].pause()));
    await rt.store.setEmergencyStop({ reason: body.reason, stopped_by: who, stopped_at: new Date().toISOString() });
    rt.log.warn(
      { action: 'emergency_stop', status: 'paused', reason: body.reason, stopped_by: who },
      'emergency stop: all tiers paused',
    );
    // The stop holds whatever happens to its announcement.
    await rt.events
      .publish('dispatcher.stopped', { reason: body.reason, by: who })
      .catch((err: unknown) => rt.log.error({ err: (err as Error).message }, 'event not published'));
    res.json(await state());
  });

  r.delete('/emergency-stop', requireScope(tokens, 'remediation:admin'), async (_req, res) => {
    const who = principalOf(res).name;
    await rt.store.setEmergencyStop(null);
    await Promise.all(TIER_NAMES.map((t) => queues.tiers[t].resume()));
    rt.log.warn({ action: 'resume', status: 'running', resumed_by: who }, 'emergency stop lifted: all tiers resumed');
    await rt.events
      .publish('dispatcher.resumed', { by: who })
      .catch((err: unknown) => rt.log.error({ err: (err as Error).message }, 'event not published'));
    res.json(await state());
  });

  r.get('/emergency-stop', requireScope(tokens, 'remediation:admin'), async (_req, res) => {
    res.json(await state());
  });

  r.get('/handlers', requireScope(tokens, 'remediation:read'), (_req, res) => {
    res.json({
      handlers: rt.registry.all().map((h) => ({
        name: h.name,
        tier: h.tier,
        description: h.description,
        resource_type: h.resourceType,
        iam_actions: [...h.iamActions],
        reversible: h.rollback.reversible,
        ...(h.rollback.reversible ? {} : { irreversible_reason: h.rollback.reason }),
      })),
    });
  });
  return r;
}
