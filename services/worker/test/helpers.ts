// The shared end-to-end helpers, and the SDK commands the worker suites use with them.
export * from '@aegis/testkit';
export * from '@aws-sdk/client-ec2';
export { CreateAccessKeyCommand, CreateUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
