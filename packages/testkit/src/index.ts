export * from './redis-provider';
export * from './stack';
