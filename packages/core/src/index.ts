export * from './tiers';
export * from './queues';
export * from './schemas';
export * from './errors';
export * from './config';
export * from './logger';
export * from './redis';
export * from './ids';
