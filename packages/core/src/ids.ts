/** `batch-YYYYMMDD-NNN` for the n-th batch of a UTC day. */
export function formatBatchId(date: Date, n: number): string {
  const d = date.toISOString().slice(0, 10).replace(/-/g, '');
  return `batch-${d}-${String(n).padStart(3, '0')}`;
}

/** `snap-NNN` for the n-th snapshot of a batch. */
export function formatSnapshotId(n: number): string {
  return `snap-${String(n).padStart(3, '0')}`;
}
