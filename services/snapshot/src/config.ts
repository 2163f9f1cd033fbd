import { CommonEnv, DurationMs } from '@aegis/core';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/** `file:///abs/path` (or `file://./relative` for local use) or `s3://bucket/prefix`. */
export const StoreUrl = z.string().transform((s, ctx) => {
  if (s.startsWith('s3://')) {
    const rest = s.slice(5);
    const [bucket, ...prefix] = rest.split('/');
    if (!bucket) {
      ctx.addIssue({ code: 'custom', message: 's3:// needs a bucket: s3://bucket/prefix' });
      return z.NEVER;
    }
    return { kind: 's3' as const, bucket, prefix: prefix.filter(Boolean).join('/') };
  }
  if (s.startsWith('file://')) {
    const p = s.slice(7);
    return { kind: 'file' as const, dir: isAbsolute(p) ? p : resolve(p) };
  }
  ctx.addIssue({
    code: 'custom',
    message: `"${s}" is not a snapshot store (use file:///abs/path or s3://bucket/prefix)`,
  });
  return z.NEVER;
});
export type StoreUrl = z.infer<typeof StoreUrl>;

export const SnapshotEnv = CommonEnv.extend({
  AEGIS_SNAPSHOT_PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  AEGIS_SNAPSHOT_HOST: z.string().default('0.0.0.0'),
  AEGIS_SNAPSHOT_STORE: StoreUrl.default(StoreUrl.parse('file://./.aegis/snapshots')),
  /** The snapshot bucket may live in another region than the resources. */
  AEGIS_SNAPSHOT_REGION: z.string().optional(),
  /** The store's own S3-compatible endpoint, path-style (Google Cloud Storage: https://storage.googleapis.com). */
  AEGIS_SNAPSHOT_S3_ENDPOINT: z.url().optional(),
  /** HMAC keys for that endpoint (GCS: a service account's HMAC key); unset: the ambient credentials. */
  AEGIS_SNAPSHOT_S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /**
   * How long a folder store keeps snapshots for audit (`0`: for ever). An S3 store is expired by
   * the bucket's lifecycle rule instead (docs/rollback.md), as the service may not delete objects.
   */
  AEGIS_SNAPSHOT_RETENTION: DurationMs.default(30 * 86_400_000),
}).superRefine((env, ctx) => {
  if (!env.AEGIS_SNAPSHOT_S3_ACCESS_KEY_ID !== !env.AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY)
    ctx.addIssue({
      code: 'custom',
      path: ['AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY'],
      message: 'set both AEGIS_SNAPSHOT_S3_ACCESS_KEY_ID and AEGIS_SNAPSHOT_S3_SECRET_ACCESS_KEY, or neither',
    });
  if (env.AEGIS_SNAPSHOT_RETENTION > 0 && env.AEGIS_SNAPSHOT_RETENTION < env.AEGIS_ROLLBACK_WINDOW)
    ctx.addIssue({
      code: 'custom',
      path: ['AEGIS_SNAPSHOT_RETENTION'],
      message: 'must be at least AEGIS_ROLLBACK_WINDOW: a snapshot must outlive its rollback window',
    });
});
export type SnapshotEnv = z.infer<typeof SnapshotEnv>;
