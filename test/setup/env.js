// Jest setup for every suite: the SDK's Node-version notice (see docs/deploy.md) would otherwise
// interleave with test output once per worker.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
