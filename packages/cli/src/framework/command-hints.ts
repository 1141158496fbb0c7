import { ErrorReason, reasonOf } from "@engine-cloud/api";
import { programName } from "./help.js";

/**
 * The command that takes a person on from a refusal, for the reasons where this CLI has one.
 * Server messages say what to do in words every client can show (proto/engine/cloud/v1/error_reason.proto);
 * naming a command is the client's part, so it happens here, keyed by the reason and the ErrorInfo
 * metadata the server sent with it. Undefined when the CLI has nothing to add.
 */
export function commandHint(reason: string, metadata: Record<string, string>): string | undefined {
  switch (reasonOf(reason)) {
    case ErrorReason.PROJECT_UNKNOWN:
    case ErrorReason.PROJECT_DENIED:
      return `allow it with: ${programName} project allow ${metadata.project ?? "<name>"}`;
    case ErrorReason.TOKEN_INVALID:
      return metadata.credential_kind === "invitation_code" ? `accept it with: ${programName} user accept` : undefined;
    case ErrorReason.SESSION_REVOKED:
    case ErrorReason.SESSION_EXPIRED:
      return `sign in again with: ${programName} login`;
    case ErrorReason.NOT_A_PERSON:
      return `sign in with: ${programName} login`;
    case ErrorReason.TENANT_NOT_FOUND:
      return `list them with: ${programName} tenant list`;
    case ErrorReason.TOKEN_NOT_FOUND:
      return `list them with: ${programName} token list`;
    case ErrorReason.MEMBER_NOT_FOUND:
      return `list them with: ${programName} user list`;
    case ErrorReason.CREDENTIAL_NOT_FOUND:
      return `list them with: ${programName} credential list`;
    case ErrorReason.SESSION_NOT_FOUND:
      return `list them with: ${programName} auth sessions`;
    case ErrorReason.CONNECTION_NOT_FOUND:
      return `list them with: ${programName} connection list`;
    case ErrorReason.PROVIDER_UNKNOWN:
      return `list them with: ${programName} connection providers`;
    case ErrorReason.OAUTH_APP_NOT_FOUND:
      return `set one with: ${programName} oauth-app set <provider>`;
    case ErrorReason.CONNECTION_NEEDS_REAUTH:
    case ErrorReason.CONNECTION_DISCONNECTED:
      return `connect the account again with: ${programName} connection connect <provider>`;
    case ErrorReason.OAUTH_APP_REJECTED:
      return `set the app again with: ${programName} oauth-app set <provider>`;
    case ErrorReason.CREDENTIAL_MANAGED_BY_HUB:
      return metadata.connection_id
        ? `refresh it with: ${programName} connection refresh ${metadata.connection_id}, or disconnect it with: ${programName} connection disconnect ${metadata.connection_id}`
        : undefined;
    default:
      return undefined;
  }
}
