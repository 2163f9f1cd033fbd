import { S3Client } from '@aws-sdk/client-s3';

export interface StoreS3Settings {
  /** An S3-compatible endpoint for the snapshot store only, e.g. `https://storage.googleapis.com`. */
  endpoint: string;
  region: string;
  /** HMAC keys of that endpoint; absent: the ambient credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

interface PutArgs {
  input?: { IfNoneMatch?: string };
  request?: { headers?: Record<string, string> };
}
type Next = (args: PutArgs) => Promise<unknown>;

/**
 * The snapshot store's S3 client when the store is not AWS S3 (Google Cloud Storage through its
 * XML API, or another S3-compatible store): its own endpoint and keys, path-style addressing, and
 * checksums only where required (GCS refuses the SDK's default aws-chunked CRC32 trailers). GCS
 * makes a write conditional through `x-goog-if-generation-match: 0`, sent beside S3's
 * `If-None-Match: *`, so a snapshot stays written once there too.
 */
export function storeS3Client(s: StoreS3Settings): S3Client {
  const client = new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(s.credentials ? { credentials: s.credentials } : {}),
  });
  (client.middlewareStack as unknown as { add: (mw: unknown, opts: unknown) => void }).add(
    (next: Next) => async (args: PutArgs) => {
      if (args.input?.IfNoneMatch === '*' && args.request?.headers)
        args.request.headers['x-goog-if-generation-match'] = '0';
      return next(args);
    },
    { step: 'build', name: 'aegisGcsWriteOnce' },
  );
  return client;
}
