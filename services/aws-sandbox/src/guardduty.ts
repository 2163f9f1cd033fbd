import type { SandboxContext, ServiceHandler } from './context';
import type { Detector } from './state';
import { AwsError, type SandboxRequest, hex, jsonResponse } from './wire';

const FREQUENCIES = ['FIFTEEN_MINUTES', 'ONE_HOUR', 'SIX_HOURS'];

function route(req: SandboxRequest): { op: string; id?: string } {
  const m = /^\/detector(?:\/([^/]+))?\/?$/.exec(req.path);
  if (!m) return { op: 'Unsupported' };
  const id = m[1] ? decodeURIComponent(m[1]) : undefined;
  const ops: Record<string, string> = id
    ? { GET: 'GetDetector', POST: 'UpdateDetector', DELETE: 'DeleteDetector' }
    : { GET: 'ListDetectors', POST: 'CreateDetector' };
  return { op: ops[req.method] ?? 'Unsupported', id };
}

function body(req: SandboxRequest): Record<string, unknown> {
  if (!req.body.length) return {};
  try {
    const v: unknown = JSON.parse(req.body.toString('utf8'));
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new AwsError('BadRequestException', 'The request is rejected because the JSON could not be processed.');
}

function frequency(v: unknown, fallback: string): string {
  if (v === undefined) return fallback;
  if (typeof v !== 'string' || !FREQUENCIES.includes(v)) {
    throw new AwsError(
      'BadRequestException',
      'The request is rejected because an invalid or out-of-range value is specified as an input parameter.',
    );
  }
  return v;
}

function detector(ctx: SandboxContext, req: SandboxRequest, id: string | undefined): Detector {
  const d = ctx.state.region(req.region).detector;
  if (!d || d.detectorId !== id) {
    throw new AwsError(
      'BadRequestException',
      'The request is rejected because the input detectorId is not owned by the current account.',
    );
  }
  return d;
}

/** GuardDuty detectors (REST-JSON): one per account and region, as in AWS. */
export const guardduty: ServiceHandler = {
  service: 'guardduty',
  operation: (req) => route(req).op,
  handle(req, ctx) {
    const { op, id } = route(req);
    const r = ctx.state.region(req.region);
    const now = ctx.now();
    switch (op) {
      case 'CreateDetector': {
        const b = body(req);
        if (typeof b.enable !== 'boolean') {
          throw new AwsError(
            'BadRequestException',
            'The request is rejected because a required parameter is missing: enable.',
          );
        }
        if (r.detector) {
          throw new AwsError(
            'BadRequestException',
            'The request is rejected because a detector already exists for the current account.',
          );
        }
        const tags = typeof b.tags === 'object' && b.tags !== null ? (b.tags as Record<string, string>) : {};
        r.detector = {
          detectorId: hex(32),
          enabled: b.enable,
          findingPublishingFrequency: frequency(b.findingPublishingFrequency, 'SIX_HOURS'),
          createdAt: now,
          updatedAt: now,
          tags,
        };
        return jsonResponse(200, { detectorId: r.detector.detectorId });
      }
      case 'ListDetectors':
        return jsonResponse(200, { detectorIds: r.detector ? [r.detector.detectorId] : [] });
      case 'GetDetector': {
        const d = detector(ctx, req, id);
        return jsonResponse(200, {
          createdAt: new Date(d.createdAt).toISOString(),
          updatedAt: new Date(d.updatedAt).toISOString(),
          findingPublishingFrequency: d.findingPublishingFrequency,
          serviceRole: `arn:aws:iam::${ctx.state.accountId}:role/aws-service-role/guardduty.amazonaws.com/AWSServiceRoleForAmazonGuardDuty`,
          status: d.enabled ? 'ENABLED' : 'DISABLED',
          tags: d.tags,
        });
      }
      case 'UpdateDetector': {
        const d = detector(ctx, req, id);
        const b = body(req);
        if (b.enable !== undefined && typeof b.enable !== 'boolean') {
          throw new AwsError(
            'BadRequestException',
            'The request is rejected because an invalid or out-of-range value is specified as an input parameter.',
          );
        }
        d.findingPublishingFrequency = frequency(b.findingPublishingFrequency, d.findingPublishingFrequency);
        if (typeof b.enable === 'boolean') d.enabled = b.enable;
        d.updatedAt = now;
        return jsonResponse(200, {});
      }
      case 'DeleteDetector':
        detector(ctx, req, id);
        delete r.detector;
        return jsonResponse(200, {});
      default:
        throw new AwsError('BadRequestException', `The sandbox does not emulate ${req.method} ${req.path}`);
    }
  },
  error(err) {
    const type = err.code === 'BadRequestException' ? 'InvalidInputException' : err.code;
    return jsonResponse(err.status, { message: err.message, __type: type }, { 'x-amzn-errortype': err.code });
  },
  throttled: () => new AwsError('ThrottlingException', 'Rate exceeded', 400),
};
