/**
 * Redis key layout of the dispatcher's own state. Every key starts with the queue prefix, so with a
 * hash-tagged prefix (`{aegis}`) all of it lives in one Redis Cluster slot beside the BullMQ keys.
 */
export class Keys {
  constructor(readonly prefix: string) {}
  finding = (id: string) => `${this.prefix}:finding:${id}`;
  batchSeq = (day: string) => `${this.prefix}:batchseq:${day}`;
  batchMeta = (id: string) => `${this.prefix}:batch:${id}:meta`;
  batchPlan = (id: string) => `${this.prefix}:batch:${id}:plan`;
  batchPlanItems = (id: string) => `${this.prefix}:batch:${id}:planitems`;
  batchItems = (id: string) => `${this.prefix}:batch:${id}:items`;
  batchCounts = (id: string) => `${this.prefix}:batch:${id}:counts`;
  batchSnapSeq = (id: string) => `${this.prefix}:batch:${id}:snapseq`;
  batchSnaps = (id: string) => `${this.prefix}:batch:${id}:snaps`;
  batchRollbacks = (id: string) => `${this.prefix}:batch:${id}:rollbacks`;
  batches = () => `${this.prefix}:batches`;
  outcomes = () => `${this.prefix}:outcomes`;
  estop = () => `${this.prefix}:estop`;
  control = () => `${this.prefix}:control`;
}
