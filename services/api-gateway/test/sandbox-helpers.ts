import type { EC2Client, IpPermission } from '@aws-sdk/client-ec2';
import { OPEN_RULES, openGroup as openWith } from '@aegis/testkit';

// The shared end-to-end helpers (packages/testkit/src/e2e.ts).
export { ec2, grants, ingest, remediate, sandboxAdmin, waitBatch, type BatchStatus } from '@aegis/testkit';

/** A group open to the world on 22 (plus a private 22 rule), on 3389 over IPv6 and on 443, plus `extra`. */
export function openGroup(client: EC2Client, extra: IpPermission[] = []): Promise<string> {
  return openWith(client, [...OPEN_RULES, ...extra]);
}
