/**
 * Imported first by the agent's entry point, before any AWS SDK client exists.
 *
 * Every SDK client, when it is built, calls `emitWarningIfUnsupportedVersion(process.version)`
 * (@aws-sdk/core), which on Node below 22 writes an eight-line NodeVersionSupportWarning to
 * stderr through `process.emitWarning`, unless AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED
 * is `true`. pgpool logs every stderr line of if_up_cmd, so that text would land in pgpool's
 * log on every switchover. The Node version is `doctor`'s check (`node`), once, with a fix.
 * Only this SDK notice is turned off: other process warnings still reach stderr.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export {};
