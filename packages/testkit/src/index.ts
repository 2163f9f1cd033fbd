export * from './redis-provider';
export * from './stack';
export * from './e2e';
