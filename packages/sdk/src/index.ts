export {
  createCloudClient,
  createCloudTransport,
  TENANT_HEADER,
  type CloudClient,
  type CloudClientOptions,
  type CloudProtocol,
} from "./client.js";
export { describeCloudError, errorReason, codeName, ERROR_DOMAIN, type CloudErrorDetails } from "./errors.js";
export * from "./gen/engine/cloud/v1/access_pb.js";
export * from "./gen/engine/cloud/v1/auth_service_pb.js";
export * from "./gen/engine/cloud/v1/credential_service_pb.js";
export * from "./gen/engine/cloud/v1/key_service_pb.js";
export * from "./gen/engine/cloud/v1/sync_service_pb.js";
export * from "./gen/engine/cloud/v1/project_service_pb.js";
export * from "./gen/engine/cloud/v1/server_service_pb.js";
export * from "./gen/engine/cloud/v1/tenant_service_pb.js";
export * from "./gen/engine/cloud/v1/token_service_pb.js";
export { Code, ConnectError } from "@connectrpc/connect";
