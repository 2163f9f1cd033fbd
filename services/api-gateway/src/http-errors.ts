import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '@aegis/core';
import type { z } from 'zod';

/** An answer with a status and the error body of DESIGN.md: {"error":{"code","message","details"?}}. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** Field-by-field validation errors: `[{field, message}]`, so callers know what to fix. */
export function validationError(err: z.ZodError, what = 'request body'): ApiError {
  const details = err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  const summary = details.map((d) => `${d.field}: ${d.message}`).join('; ');
  return new ApiError(400, 'validation_failed', `invalid ${what}: ${summary}`.slice(0, 1000), details);
}

export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, what?: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(r.error, what);
  return r.data;
}

export function sendError(res: Response, status: number, code: string, message: string, details?: unknown): void {
  res.status(status).json({ error: details === undefined ? { code, message } : { code, message, details } });
}

/** Last middleware: every error becomes a JSON body; never a stack trace. */
export function errorMiddleware(log: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    if (err instanceof ApiError) return sendError(res, err.status, err.code, err.message, err.details);
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') return sendError(res, 413, 'payload_too_large', 'request body too large');
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendError(res, e.status, 'bad_request', e.message ?? 'bad request');
    log.error({ err: (err as Error).message, path: req.path, request_id: res.locals.requestId }, 'unhandled error');
    sendError(res, 500, 'internal_error', `internal error (request id ${String(res.locals.requestId)})`);
  };
}
