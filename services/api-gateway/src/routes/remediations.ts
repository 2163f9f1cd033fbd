import { Router, type Response } from 'express';
import { createHash } from 'node:crypto';
import { BatchId, HandlerName, type Finding } from '@aegis/core';
import type { Runtime } from '@aegis/dispatch';
import { RemediationRequest, ReportQuery, SingleHandlerRequest } from '../api-schemas';
import { principalOf, requireScope, type TokenStore } from '../auth';
import { jsonBody } from '../body';
import { ApiError, parseOr400 } from '../http-errors';
import type { RemediationService } from '../remediation-service';
import { buildReport } from '../report';

export function remediationRoutes(
  rt: Runtime,
  tokens: TokenStore,
  svc: RemediationService,
  defaultAccount: () => Promise<string>,
): Router {
  const r = Router();

  r.post('/remediations', requireScope(tokens, 'remediation:execute'), ...jsonBody(), async (req, res) => {
    const body = parseOr400(RemediationRequest, req.body);
    const who = principalOf(res).name;
    if (body.dry_run) {
      const findings = await svc.loadFindings(body.finding_ids, body.executor_tier);
      return void res
        .status(200)
        .json(await svc.dryRun(findings, { executorTier: body.executor_tier, requestedBy: who }));
    }
    await executeAndAnswer(
      res,
      svc,
      {
        batch_id: body.batch_id as string,
        finding_ids: body.finding_ids,
        executor_tier: body.executor_tier,
        change_ticket: body.change_ticket,
      },
      who,
    );
  });

  r.get('/remediations/report', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const q = parseOr400(ReportQuery, req.query, 'query');
    res.json(await buildReport(rt.store, q.period, q.group_by));
  });

  r.get('/remediations/:batch_id', requireScope(tokens, 'remediation:read'), async (req, res) => {
    const id = parseOr400(BatchId, req.params.batch_id, 'batch id');
    res.json(await svc.status(id));
  });

  r.post(
    '/remediations/handlers/:handler',
    requireScope(tokens, 'remediation:execute'),
    ...jsonBody(),
    async (req, res) => {
      const hn = HandlerName.safeParse(req.params.handler);
      if (!hn.success)
        throw new ApiError(
          404,
          'unknown_handler',
          `unknown handler "${req.params.handler}" (known: ${rt.registry
            .all()
            .map((h) => h.name)
            .join(', ')})`,
        );
      const handler = rt.registry.get(hn.data);
      const body = parseOr400(SingleHandlerRequest, req.body);
      const why = handler.checkResourceId(body.resource_id);
      if (why)
        throw new ApiError(422, 'resource_mismatch', `${body.resource_id} is not a ${handler.resourceType}: ${why}`, {
          field: 'resource_id',
        });
      const accountId = body.account_id ?? (await defaultAccount());
      const region = body.region ?? rt.env.AWS_REGION;
      const id = `h-${createHash('sha256').update(`${handler.name}|${accountId}|${region}|${body.resource_id}`).digest('hex').slice(0, 16)}`;
      const who = principalOf(res).name;
      if (!body.dry_run) {
        const header = await rt.store.getHeader(body.batch_id as string);
        if (!header || header.single_handler !== handler.name || header.finding_ids[0] !== id) {
          throw new ApiError(
            409,
            'plan_mismatch',
            `${body.batch_id} is not a dry run of ${handler.name} on ${body.resource_id} (${region}, ${accountId}); run this call with dry_run:true first`,
          );
        }
        return executeAndAnswer(
          res,
          svc,
          { batch_id: body.batch_id as string, finding_ids: [id], change_ticket: body.change_ticket },
          who,
        );
      }
      const now = new Date().toISOString();
      const existing = await rt.store.getFinding(id);
      const finding: Finding = {
        id,
        handler: handler.name,
        provider: 'aws',
        account_id: accountId,
        region,
        resource_id: body.resource_id,
        severity: existing?.severity ?? 'high',
        title: existing?.title ?? `manual ${handler.name} on ${body.resource_id}`,
        dependencies: existing?.dependencies ?? [],
        status: existing?.status ?? 'open',
        created_at: existing?.created_at ?? now,
        updated_at: now,
      };
      await rt.store.upsertFindings([finding]);
      const out = await svc.dryRun([finding], { requestedBy: who, singleHandler: handler.name });
      res.status(200).json({
        ...out,
        finding_id: id,
        handler: handler.name,
        resource_id: body.resource_id,
        region,
        account_id: accountId,
      });
    },
  );
  return r;
}

async function executeAndAnswer(
  res: Response,
  svc: RemediationService,
  req: Parameters<RemediationService['execute']>[0],
  who: string,
): Promise<void> {
  res.status(202).json(await svc.execute(req, who));
}
