import { CommonEnv } from '@aegis/core';
import { z } from 'zod';

const csv = z
  .string()
  .transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  )
  .optional();

export const GatewayEnv = CommonEnv.extend({
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('0.0.0.0'),
  /** One dev token with every scope (local use). Never logged. */
  AEGIS_API_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** JSON list of {name, sha256, scopes}. */
  AEGIS_API_TOKENS_FILE: z.string().optional(),
  /** Accounts marked as production: executing on them needs a change ticket. */
  AEGIS_PRODUCTION_ACCOUNTS: csv,
  AEGIS_CHANGE_TICKET_PATTERN: z
    .string()
    .default('^[A-Z][A-Z0-9]+-\\d+$')
    .refine((p) => {
      try {
        new RegExp(p);
        return true;
      } catch {
        return false;
      }
    }, 'a valid regular expression'),
  /** When set, findings for other accounts are refused. */
  AEGIS_ALLOWED_ACCOUNTS: csv,
  AEGIS_MAX_BATCH_ITEMS: z.coerce.number().int().positive().default(10_000),
  /** Path prefix the gateway is served under behind a proxy (Bull Board links use it). */
  AEGIS_BASE_PATH: z.string().default(''),
});
export type GatewayEnv = z.infer<typeof GatewayEnv>;
