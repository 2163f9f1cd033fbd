import { Json, Snapshot } from '@aegis/core';
import type { SnapshotDoc } from '@aegis/dispatch';
import type { z } from 'zod';

/** A snapshot document as workers send it and the store keeps it: DESIGN.md's fields plus the plan's ops. */
export const SnapshotDocument: z.ZodType<SnapshotDoc> = Snapshot.extend({ ops: Json });

/** A stored document, checked: a file edited by hand or cut short is refused, never half-used. */
export function parseStoredSnapshot(raw: string, where: string): SnapshotDoc {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new Error(`snapshot ${where} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = SnapshotDocument.safeParse(value);
  if (!r.success) throw new Error(`snapshot ${where} is not a snapshot document: ${r.error.issues[0]?.message ?? ''}`);
  return r.data;
}
