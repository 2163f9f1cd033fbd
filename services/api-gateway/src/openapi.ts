import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import { BatchId, HANDLER_NAMES, HandlerName, SafeId } from '@aegis/core';
import { AegisEvent } from '@aegis/dispatch';
import { z } from 'zod';
import {
  EmergencyStopRequest,
  FindingsRequest,
  RemediationRequest,
  ReportQuery,
  RollbackRequest,
  SingleHandlerRequest,
} from './api-schemas';
import { AuditPageResponse, AuditQuery, DeliveriesQuery, DeliveriesResponse } from './api-schemas-audit';
import type { Scope } from './auth';
import {
  BatchStatusResponse,
  DryRunResponse,
  EmergencyStopState,
  ErrorBody,
  ExecuteResponse,
  FindingResponse,
  FindingsAccepted,
  HandlersResponse,
  HealthResponse,
  ReadyResponse,
  ReportResponse,
  RollbackAccepted,
  RollbackDryRunResponse,
  SingleHandlerDryRunResponse,
  SnapshotList,
} from './response-schemas';

/*
 * The OpenAPI document of the API, generated from the zod schemas that validate the requests
 * (api-schemas.ts) and describe the answers (response-schemas.ts), never written by hand.
 */

const V1 = '/api/v1';

const json = (schema: z.ZodType, description: string): ResponseConfig => ({
  description,
  content: { 'application/json': { schema } },
});

const ERRORS: Record<number, string> = {
  400: 'Invalid request: `validation_failed` with `details: [{field, message}]`, or `invalid_json`.',
  401: 'Missing or invalid bearer token (`unauthorized`).',
  403: 'The token lacks the scope of this operation (`forbidden`, `details.missing_scope`).',
  404: 'Not found.',
  409: 'Conflicts with the state of the batch.',
  413: 'Request body too large (`payload_too_large`).',
  415: 'Request body is not JSON (`unsupported_media_type`); any declared Content-Type is accepted for a JSON body.',
  422: 'Well-formed but refused.',
  500: 'Internal error (`internal_error`, with the request id; never a stack trace).',
  503: 'A dependency is unavailable.',
};

/** The error answers of an operation, with the codes it really uses where they say more. */
function errors(statuses: number[], specific: Record<number, string> = {}): Record<number, ResponseConfig> {
  return Object.fromEntries([...statuses, 500].map((s) => [s, json(ErrorBody, specific[s] ?? ERRORS[s] ?? 'Error.')]));
}

const AUTH_ERRORS = [401, 403];
const BODY_ERRORS = [400, 413, 415];

const jsonBody = (schema: z.ZodType) => ({ required: true, content: { 'application/json': { schema } } });

const batchParam = z.object({
  batch_id: BatchId.meta({ description: 'A batch id from a dry run.', example: 'batch-20260226-001' }),
});

type Operation = Omit<RouteConfig, 'security'> & { scope: Scope | null };

function operations(): Operation[] {
  return [
    {
      method: 'post',
      path: `${V1}/findings`,
      operationId: 'ingestFindings',
      tags: ['findings'],
      scope: 'findings:write',
      summary: 'Upsert findings from scanners',
      description: 'Stores findings by id (new ones open; existing ones keep their status and history).',
      request: { body: jsonBody(FindingsRequest) },
      responses: {
        200: json(FindingsAccepted, 'Findings stored.'),
        ...errors([...BODY_ERRORS, ...AUTH_ERRORS, 422], {
          422: '`account_not_allowed` (account outside AEGIS_ALLOWED_ACCOUNTS) or `resource_mismatch` (resource id does not fit the handler).',
        }),
      },
    },
    {
      method: 'get',
      path: `${V1}/findings/{id}`,
      operationId: 'getFinding',
      tags: ['findings'],
      scope: 'remediation:read',
      summary: 'One finding, with status and dependencies',
      request: { params: z.object({ id: SafeId.meta({ description: 'The finding id.', example: 'f-abc123' }) }) },
      responses: {
        200: json(FindingResponse, 'The finding.'),
        ...errors([400, ...AUTH_ERRORS, 404], { 404: '`unknown_finding`.' }),
      },
    },
    {
      method: 'post',
      path: `${V1}/remediations`,
      operationId: 'remediate',
      tags: ['remediations'],
      scope: 'remediation:execute',
      summary: 'Dry run a batch, or execute a dry run',
      description:
        'Always a dry run first (`dry_run:true`): it inspects every resource, plans the changes and returns a `batch_id`. Executing (`dry_run:false`) needs that `batch_id` and the same `finding_ids`, while the plan is fresh (AEGIS_PLAN_TTL). While the emergency stop holds, execute is still accepted and its items wait for resume.',
      request: { body: jsonBody(RemediationRequest) },
      responses: {
        200: json(DryRunResponse, 'Dry run: the plan, nothing changed.'),
        202: json(ExecuteResponse, 'Execute: items queued.'),
        ...errors([...BODY_ERRORS, ...AUTH_ERRORS, 404, 409, 422], {
          404: '`unknown_findings` (with `details.unknown_finding_ids`) or `unknown_batch` (no such dry run).',
          409: '`already_executed`, `plan_mismatch` (other finding ids or tier than the dry run) or `plan_expired`.',
          422: "`mixed_providers`, `tier_mismatch`, `account_not_allowed`, `resource_not_in_scope` (the dry run found a resource missing from its finding's account and region), `change_ticket_required` or `invalid_change_ticket`.",
        }),
      },
    },
    {
      method: 'get',
      path: `${V1}/remediations/report`,
      operationId: 'getReport',
      tags: ['remediations'],
      scope: 'remediation:read',
      summary: 'Success rate and T1 SLA compliance over a period',
      description:
        'From the durable outcome records (31 days). `success_rate` is a fraction 0..1; `sla_compliance_pct` is the share (0..100) of T1 items that succeeded within 300 s of being enqueued, 100 when the period has no T1 item.',
      request: { query: ReportQuery },
      responses: {
        200: json(ReportResponse, 'The figures.'),
        ...errors([400, ...AUTH_ERRORS]),
      },
    },
    {
      method: 'get',
      path: `${V1}/remediations/{batch_id}`,
      operationId: 'getBatch',
      tags: ['remediations'],
      scope: 'remediation:read',
      summary: 'Status of a batch and of each item',
      request: { params: batchParam },
      responses: {
        200: json(BatchStatusResponse, 'The batch.'),
        ...errors([400, ...AUTH_ERRORS, 404], { 404: '`unknown_batch`.' }),
      },
    },
    {
      method: 'post',
      path: `${V1}/remediations/handlers/{handler}`,
      operationId: 'remediateResource',
      tags: ['remediations'],
      scope: 'remediation:execute',
      summary: 'Remediate one resource with one handler',
      description:
        'The same two steps as a batch: `dry_run:true` returns a `batch_id` with the preview; `dry_run:false` with that `batch_id` executes it.',
      request: {
        params: z.object({
          handler: HandlerName.meta({
            description: `One of ${HANDLER_NAMES.join(', ')}.`,
            example: 'block-public-ssh',
          }),
        }),
        body: jsonBody(SingleHandlerRequest),
      },
      responses: {
        200: json(SingleHandlerDryRunResponse, 'Dry run: the plan, nothing changed.'),
        202: json(ExecuteResponse, 'Execute: the item is queued.'),
        ...errors([...BODY_ERRORS, ...AUTH_ERRORS, 404, 409, 422], {
          404: '`unknown_handler`, or `unknown_batch`.',
          409: '`plan_mismatch` (batch_id is not a dry run of this call), `already_executed` or `plan_expired`.',
          422: '`resource_mismatch`: the resource id does not fit the handler; or change ticket errors.',
        }),
      },
    },
    {
      method: 'get',
      path: `${V1}/remediations/{batch_id}/snapshots`,
      operationId: 'listSnapshots',
      tags: ['rollback'],
      scope: 'remediation:read',
      summary: "Snapshots taken before the batch's changes",
      request: { params: batchParam },
      responses: {
        200: json(SnapshotList, 'One entry per changed resource.'),
        ...errors([400, ...AUTH_ERRORS, 404, 503], {
          404: '`unknown_batch`.',
          503: '`snapshot_service_unavailable`.',
        }),
      },
    },
    {
      method: 'post',
      path: `${V1}/remediations/{batch_id}/rollback`,
      operationId: 'rollback',
      tags: ['rollback'],
      scope: 'remediation:rollback',
      summary: 'Roll back one snapshot or the whole batch',
      description:
        'Within the rollback window (AEGIS_ROLLBACK_WINDOW, 48 h). A whole-batch rollback undoes the changes newest first. A resource that changed since the remediation is refused unless `force:true`.',
      request: { params: batchParam, body: jsonBody(RollbackRequest) },
      responses: {
        200: json(RollbackDryRunResponse, 'Dry run: what would be restored, and refusals.'),
        202: json(RollbackAccepted, 'Rollbacks queued.'),
        ...errors([...BODY_ERRORS, ...AUTH_ERRORS, 404, 409, 503], {
          404: '`unknown_batch` or `unknown_snapshot`.',
          409: '`nothing_to_roll_back` or `rollback_refused` (every snapshot refused, `details.refused`).',
          503: '`snapshot_service_unavailable`.',
        }),
      },
    },
    {
      method: 'post',
      path: `${V1}/emergency-stop`,
      operationId: 'emergencyStop',
      tags: ['control'],
      scope: 'remediation:admin',
      summary: 'Emergency stop: pause every tier',
      description:
        'Pauses all tier queues for every replica; items already running stop before their apply step and wait in the queue.',
      request: { body: jsonBody(EmergencyStopRequest) },
      responses: {
        200: json(EmergencyStopState, 'Stopped.'),
        ...errors([...BODY_ERRORS, ...AUTH_ERRORS]),
      },
    },
    {
      method: 'delete',
      path: `${V1}/emergency-stop`,
      operationId: 'resume',
      tags: ['control'],
      scope: 'remediation:admin',
      summary: 'Resume after an emergency stop',
      responses: { 200: json(EmergencyStopState, 'Resumed.'), ...errors(AUTH_ERRORS) },
    },
    {
      method: 'get',
      path: `${V1}/emergency-stop`,
      operationId: 'getEmergencyStop',
      tags: ['control'],
      scope: 'remediation:admin',
      summary: 'Emergency stop state and work in flight per tier',
      responses: { 200: json(EmergencyStopState, 'The state.'), ...errors(AUTH_ERRORS) },
    },
    {
      method: 'get',
      path: `${V1}/handlers`,
      operationId: 'listHandlers',
      tags: ['control'],
      scope: 'remediation:read',
      summary: 'Handlers, their tiers and the IAM actions each needs',
      responses: { 200: json(HandlersResponse, 'The handler catalogue.'), ...errors(AUTH_ERRORS) },
    },
    {
      method: 'get',
      path: `${V1}/audit`,
      operationId: 'listAudit',
      tags: ['control'],
      scope: 'remediation:read',
      summary: 'The audit trail: dry runs, executions, rollbacks, emergency stops and resumes, and their outcomes',
      description:
        'Oldest first; page with `cursor` = the previous `next_cursor`. Actors are token names, never tokens. Kept at least 400 days (AEGIS_AUDIT_RETENTION).',
      request: { query: AuditQuery },
      responses: { 200: json(AuditPageResponse, 'One page of entries.'), ...errors([400, ...AUTH_ERRORS]) },
    },
    {
      method: 'get',
      path: `${V1}/events/deliveries`,
      operationId: 'listEventDeliveries',
      tags: ['control'],
      scope: 'remediation:read',
      summary: 'Webhook delivery status of one event (see the AegisEvent component)',
      request: { query: DeliveriesQuery },
      responses: { 200: json(DeliveriesResponse, 'One status per configured URL.'), ...errors([400, ...AUTH_ERRORS]) },
    },
    {
      method: 'get',
      path: `${V1}/openapi.json`,
      operationId: 'getOpenApi',
      tags: ['meta'],
      scope: null,
      summary: 'This OpenAPI document',
      responses: { 200: json(z.record(z.string(), z.unknown()), 'The document (OpenAPI 3.1).') },
    },
    {
      method: 'get',
      path: '/healthz',
      operationId: 'healthz',
      tags: ['meta'],
      scope: null,
      summary: 'Liveness',
      responses: { 200: json(HealthResponse, 'The process answers.') },
    },
    {
      method: 'get',
      path: '/readyz',
      operationId: 'readyz',
      tags: ['meta'],
      scope: null,
      summary: 'Readiness (Redis reachable)',
      responses: { 200: json(ReadyResponse, 'Ready.'), 503: json(ReadyResponse, 'Redis does not answer.') },
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'metrics',
      tags: ['meta'],
      scope: null,
      summary: 'Prometheus metrics of the gateway (docs/observability.md)',
      responses: {
        200: {
          description: 'Prometheus text exposition format.',
          content: { 'text/plain': { schema: z.string() } },
        },
      },
    },
  ];
}

function generate(): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API token (AEGIS_API_TOKEN, or one of AEGIS_API_TOKENS_FILE). Each operation names the scope it needs: findings:write, remediation:read, remediation:execute, remediation:rollback, remediation:admin.',
  });
  // Published on the Redis stream `<prefix>:events` and to webhooks, not served by a path.
  // Published on the Redis stream `<prefix>:events` and to webhooks, not served by a path: a
  // component of its own, converted from the same zod schema the publisher validates with.
  registry.registerComponent('schemas', 'AegisEvent', eventComponent());
  for (const { scope, ...op } of operations()) {
    registry.registerPath({
      ...op,
      ...(scope
        ? {
            security: [{ bearerAuth: [scope] }],
            description: `${op.description ? `${op.description}\n\n` : ''}Scope: \`${scope}\`.`,
          }
        : { security: [] }),
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Cloud Aegis remediation dispatcher',
      version: '1.0.0',
      description:
        'Dry run, execute, monitor and roll back remediations of cloud findings. Errors are `{"error":{"code","message","details"?}}`.',
    },
    security: [{ bearerAuth: [] }],
    tags: [
      { name: 'findings', description: 'Findings from scanners.' },
      { name: 'remediations', description: 'Dry runs, execution, status and reports.' },
      { name: 'rollback', description: 'Snapshots and rollbacks.' },
      { name: 'control', description: 'Emergency stop and the handler catalogue.' },
      { name: 'meta', description: 'This document, health and metrics (no token).' },
    ],
  });
}

type SchemaObject = Parameters<OpenAPIRegistry['registerComponent']>[2];

function eventComponent(): SchemaObject {
  const { $schema: _draft, ...schema } = z.toJSONSchema(AegisEvent, { io: 'output' }) as Record<string, unknown>;
  return { ...schema, description: 'An event for other services (docs/accounts-audit-events.md).' } as SchemaObject;
}

let cached: ReturnType<typeof generate> | undefined;

/** The document, generated on first use and kept: the schemas do not change while the process runs. */
export function openApiDocument(): ReturnType<typeof generate> {
  cached ??= generate();
  return cached;
}

const escape = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

let cachedHtml: string | undefined;

/** `/api/docs`: the operations as a plain HTML page (no script, nothing fetched from elsewhere). */
export function apiDocsHtml(): string {
  if (cachedHtml) return cachedHtml;
  const rows = operations()
    .map(
      (op) =>
        `<tr><td><code>${op.method.toUpperCase()}</code></td><td><code>${escape(op.path)}</code></td><td>${op.scope ? `<code>${op.scope}</code>` : 'none'}</td><td>${escape(op.summary ?? '')}</td></tr>`,
    )
    .join('\n');
  cachedHtml = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cloud Aegis API</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>
</head><body>
<h1>Cloud Aegis remediation dispatcher API</h1>
<p>Send <code>Authorization: Bearer &lt;token&gt;</code>; each operation needs the scope shown. Errors are <code>{"error":{"code","message","details"?}}</code>. The full document, with every schema: <a href="v1/openapi.json">/api/v1/openapi.json</a>.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Scope</th><th>What</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>
`;
  return cachedHtml;
}
