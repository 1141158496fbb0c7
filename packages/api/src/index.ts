// The engine.cloud.v1 contract: every message, enum and service of proto/engine/cloud/v1, and the constants of the
// wire. The vendored protos (google/rpc, grpc health and reflection, buf/validate) are at "@engine-cloud/api/gen/…".
// index.test.ts fails when a generated engine/cloud/v1 file is missing here.
export * from "./constants.js";
export { reasonName, reasonOf } from "./error-reason.js";
export * from "./gen/engine/cloud/v1/access_pb.js";
export * from "./gen/engine/cloud/v1/audit_pb.js";
export * from "./gen/engine/cloud/v1/audit_service_pb.js";
export * from "./gen/engine/cloud/v1/auth_service_pb.js";
export * from "./gen/engine/cloud/v1/connection_service_pb.js";
export * from "./gen/engine/cloud/v1/credential_service_pb.js";
export * from "./gen/engine/cloud/v1/error_reason_pb.js";
export * from "./gen/engine/cloud/v1/key_service_pb.js";
export * from "./gen/engine/cloud/v1/oauth_app_service_pb.js";
export * from "./gen/engine/cloud/v1/oauth_provider_pb.js";
export * from "./gen/engine/cloud/v1/project_service_pb.js";
export * from "./gen/engine/cloud/v1/runtime_service_pb.js";
export * from "./gen/engine/cloud/v1/server_service_pb.js";
export * from "./gen/engine/cloud/v1/sync_service_pb.js";
export * from "./gen/engine/cloud/v1/tenant_service_pb.js";
export * from "./gen/engine/cloud/v1/token_service_pb.js";
export * from "./gen/engine/cloud/v1/user_service_pb.js";
