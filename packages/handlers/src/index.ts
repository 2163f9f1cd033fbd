export * from './contract';
export * from './clients';
export * from './accounts';
export * from './registry';
export * from './plan-hash';
export { createDefaultRegistry } from './handlers';
