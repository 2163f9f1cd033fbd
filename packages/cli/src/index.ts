export * from './api-client';
export * from './errors';
export * from './findings-input';
export * from './iam-policy';
export { buildProgram } from './program';
