export * from './redis-provider';
