export * from './contract';
export * from './clients';
export * from './registry';
export * from './plan-hash';
export { createDefaultRegistry } from './handlers';
