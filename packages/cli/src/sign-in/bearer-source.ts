import { Code, type CloudErrorDetails } from "@engine-cloud/sdk";
import type { CliEnv } from "../framework/args.js";
import { programName } from "../framework/help.js";
import type { StoredSession } from "./session-file.js";

/** Where the credential of a run came from. */
export type CredentialSource = "flag" | "env" | "session" | "none";

export interface ResolvedCredential {
  /** The bearer token to send: an API token or a session token. Undefined: none. */
  token?: string;
  source: CredentialSource;
  /** The stored session, when it is the credential. */
  session?: StoredSession;
  /** Why a stored session was passed over, for the hint of a refused call. */
  sessionIgnored?: string;
}

export interface CredentialInputs {
  /** The --token flag. */
  flagToken?: string;
  env: CliEnv;
  /** The server this run talks to (--server, ENGINE_CLOUD_URL or the default). */
  serverUrl: string;
  /** Reads the stored session; only called when neither the flag nor the environment gives a token. */
  loadSession(): StoredSession | undefined;
}

/**
 * The one rule for which credential a command sends: --token, else ENGINE_CLOUD_TOKEN, else the session of
 * `engine-cloud login` if it belongs to the server named. A session is never sent to another server: that would
 * hand a person's credential to whoever runs it.
 */
export function resolveCredential(inputs: CredentialInputs): ResolvedCredential {
  if (inputs.flagToken) return { token: inputs.flagToken, source: "flag" };
  const envToken = inputs.env.ENGINE_CLOUD_TOKEN;
  if (envToken) return { token: envToken, source: "env" };
  const session = inputs.loadSession();
  if (!session) return { source: "none" };
  if (!sameServer(session.server, inputs.serverUrl)) {
    return {
      source: "none",
      sessionIgnored:
        `you are logged in to ${session.server}, not ${inputs.serverUrl}: pass --server ${session.server}, ` +
        `or run '${programName} login --server ${inputs.serverUrl}'`,
    };
  }
  return { token: session.session_token, source: "session", session };
}

/** Whether two server URLs name the same server: scheme, host and port, ignoring a trailing slash and case. */
export function sameServer(a: string, b: string): boolean {
  return normalizeServerUrl(a) === normalizeServerUrl(b);
}

function normalizeServerUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return url.replace(/\/+$/, "");
  }
}

/** What to tell a person whose call was refused for want of a credential; undefined when it was not that. */
export function missingCredentialHint(credential: ResolvedCredential | undefined, error: CloudErrorDetails): string | undefined {
  if (error.code !== Code.Unauthenticated) return undefined;
  if (credential && credential.source !== "none") return undefined;
  return credential?.sessionIgnored ?? `not logged in: run '${programName} login', pass --token or set ENGINE_CLOUD_TOKEN`;
}

/** For whoami: where the credential came from, in words. */
export function describeCredentialSource(credential: ResolvedCredential, sessionFile: string): string {
  switch (credential.source) {
    case "flag":
      return "--token";
    case "env":
      return "ENGINE_CLOUD_TOKEN";
    case "session":
      return `session of '${programName} login' (${sessionFile})`;
    case "none":
      return "none";
    default:
      return credential.source satisfies never;
  }
}
