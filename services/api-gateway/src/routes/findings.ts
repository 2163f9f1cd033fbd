import { Router } from 'express';
import { SafeId, type Finding } from '@aegis/core';
import type { Runtime } from '@aegis/dispatch';
import { FindingsRequest } from '../api-schemas';
import { requireScope, type TokenStore } from '../auth';
import { jsonBody } from '../body';
import { ApiError, parseOr400 } from '../http-errors';

export function findingsRoutes(
  rt: Runtime,
  tokens: TokenStore,
  opts: { allowedAccounts: ReadonlySet<string> | null },
): Router {
  const r = Router();
  r.post('/findings', requireScope(tokens, 'findings:write'), ...jsonBody('5mb'), async (req, res) => {
    const body = parseOr400(FindingsRequest, req.body);
    const refused = opts.allowedAccounts ? body.findings.filter((f) => !opts.allowedAccounts?.has(f.account_id)) : [];
    if (refused.length)
      throw new ApiError(
        422,
        'account_not_allowed',
        `accounts outside the allow-list: ${[...new Set(refused.map((f) => f.account_id))].join(', ')}`,
        { finding_ids: refused.map((f) => f.id) },
      );
    const mismatched = body.findings
      .map((f) => ({ f, why: rt.registry.get(f.handler).checkResourceId(f.resource_id) }))
      .filter((x) => x.why);
    if (mismatched.length) {
      throw new ApiError(
        422,
        'resource_mismatch',
        `resource ids that ${mismatched.length === 1 ? 'does' : 'do'} not fit the handler: ${mismatched.map((m) => `${m.f.id}: ${m.why}`).join('; ')}`,
        {
          findings: mismatched.map((m) => ({
            id: m.f.id,
            handler: m.f.handler,
            resource_id: m.f.resource_id,
            message: m.why,
          })),
        },
      );
    }
    const now = new Date().toISOString();
    const existing = await rt.store.getFindings(body.findings.map((f) => f.id));
    const findings: Finding[] = body.findings.map((f, i) => ({
      ...f,
      severity: f.severity ?? 'medium',
      title: f.title ?? '',
      dependencies: f.dependencies ?? [],
      status: existing[i]?.status ?? 'open',
      created_at: existing[i]?.created_at ?? now,
      updated_at: now,
      ...(existing[i]?.last_batch_id ? { last_batch_id: existing[i]?.last_batch_id } : {}),
    }));
    await rt.store.upsertFindings(findings);
    const created = existing.filter((e) => !e).length;
    res
      .status(200)
      .json({ accepted: findings.length, created, updated: findings.length - created, ids: findings.map((f) => f.id) });
  });

  r.get('/findings/:id', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const id = parseOr400(SafeId, req.params.id, 'finding id');
    const f = await rt.store.getFinding(id);
    if (!f) throw new ApiError(404, 'unknown_finding', `no finding ${id}`);
    res.json(f);
  });
  return r;
}
