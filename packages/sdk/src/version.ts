/** This SDK's version, sent as RuntimeInfo.sdk_version; kept in step with packages/sdk/package.json (version.test.ts). */
export const SDK_VERSION = "0.1.0";

/** This SDK's name in RuntimeInfo.sdk. */
export const SDK_NAME = "engine-cloud-ts";
