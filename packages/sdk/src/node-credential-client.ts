import type { CloudClient } from "./client.js";
import { readCloudEnv, requireSetting } from "./cloud-env.js";
import { createCredentialClient as createCredentialClientOver, type EngineCredentialClient } from "./credential-client.js";
import { createCloudClient, type CloudProtocol } from "./node-client.js";

export interface CredentialClientOptions {
  /** Server URL; default ENGINE_CLOUD_URL. */
  baseUrl?: string;
  /** API token; default ENGINE_OAUTH_API_KEY. */
  token?: string;
  /** Wire protocol; default "connect". */
  protocol?: CloudProtocol;
  /**
   * The project this caller serves; default ENGINE_CLOUD_PROJECT. Names
   * without a project resolve to it first, then to tenant-wide credentials,
   * the way a runtime of that project sees them.
   */
  project?: string;
  /** Talk through this client instead of building one (baseUrl and token are then ignored). */
  client?: CloudClient;
  /** Where to read defaults from; default process.env. */
  env?: Record<string, string | undefined>;
}

/** The root's createCredentialClient, which in Node also builds its client from options or the environment. */
export function createCredentialClient(options: CredentialClientOptions = {}): EngineCredentialClient {
  const env = readCloudEnv(options.env);
  const client =
    options.client ??
    createCloudClient({
      baseUrl: requireSetting("baseUrl", options.baseUrl, env.baseUrl),
      token: requireSetting("token", options.token, env.token),
      protocol: options.protocol,
    });
  return createCredentialClientOver({ client, project: options.project ?? env.project });
}
