import express, { type NextFunction, type Request, type Response } from 'express';
import { ApiError } from './http-errors';

/**
 * The runbook's curl lines send JSON with no Content-Type (curl then says form-urlencoded), so a
 * body is parsed as JSON whatever type is declared; only a body that is not JSON is refused (415,
 * or 400 when it claimed to be JSON).
 */
export function jsonBody(limit = '1mb') {
  const raw = express.text({ type: () => true, limit });
  return [
    raw,
    (req: Request, _res: Response, next: NextFunction) => {
      const text = typeof req.body === 'string' ? req.body : '';
      if (!text.trim()) {
        req.body = undefined;
        return next();
      }
      try {
        req.body = JSON.parse(text) as unknown;
        next();
      } catch (err) {
        const declaredJson = /json/i.test(req.headers['content-type'] ?? '');
        if (declaredJson)
          return next(new ApiError(400, 'invalid_json', `request body is not valid JSON: ${(err as Error).message}`));
        next(new ApiError(415, 'unsupported_media_type', 'request body must be JSON'));
      }
    },
  ];
}
