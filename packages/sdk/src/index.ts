// The isomorphic SDK: nothing here imports a Node builtin (test/sdk-browser-bundle.test.ts bundles it for the
// browser), so a browser, a worker or Node can use it over any Connect transport. What only Node can do —
// connect-node transports, the sync provider and its local cache, settings from the environment — is in
// "./node.ts" ("@engine-cloud/sdk/node"). Messages, enums and services are not re-exported: they are the API
// package's ("@engine-cloud/api"), which this one depends on.
export { createCloudClient, type CloudClient } from "./client.js";
export { cloudInterceptors, type CloudCallerOptions } from "./interceptors.js";
export { createCloudWebTransport, type CloudWebTransportOptions } from "./web-transport.js";
export { describeCloudError, errorReason, codeName, type CloudErrorDetails } from "./errors.js";
export { Code, ConnectError } from "@connectrpc/connect";
export { parseCredentialName, credentialNameOf, type CredentialName, type CredentialRef } from "./credential-ref.js";
export {
  createCredentialClient,
  type CredentialFields,
  type CredentialKeyInput,
  type EngineCredentialClient,
  type ListCredentialsFilter,
} from "./credential-client.js";
