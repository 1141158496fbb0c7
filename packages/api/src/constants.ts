// The parts of the engine.cloud.v1 contract that are not in the .proto files: strings server and clients must
// agree on. Each has this one home; the server, the SDK and the CLI import it from here.

/** Header a platform administrator uses to name the tenant it acts in (slug or id). */
export const TENANT_HEADER = "engine-tenant";

/** The domain of every google.rpc.ErrorInfo the server sends. */
export const ERROR_DOMAIN = "engine.cloud";

/** The alias a credential has when none is named. */
export const DEFAULT_ALIAS = "default";
