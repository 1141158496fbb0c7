/** The environment variables the runtime side of the SDK reads, and nothing else does. */
export const CLOUD_ENV = {
  baseUrl: "ENGINE_CLOUD_URL",
  token: "ENGINE_OAUTH_API_KEY",
  project: "ENGINE_CLOUD_PROJECT",
  credentialKey: "ENGINE_CREDENTIAL_KEY",
} as const;

/** What the environment says, each setting optional. */
export interface CloudEnv {
  baseUrl?: string;
  token?: string;
  project?: string;
  /** Base64 or hex of the 32-byte local cache key. */
  credentialKey?: string;
}

/** A required setting is missing from both the options and the environment. */
export class CloudConfigError extends Error {
  override readonly name = "CloudConfigError";
  constructor(
    /** The option that was missing, e.g. "baseUrl". */
    readonly option: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one place the SDK reads environment variables. Empty values count as
 * unset, so `ENGINE_CLOUD_PROJECT=` does not select a project named "".
 */
export function readCloudEnv(env: Record<string, string | undefined> = process.env): CloudEnv {
  const read = (name: string) => env[name]?.trim() || undefined;
  return {
    baseUrl: read(CLOUD_ENV.baseUrl),
    token: read(CLOUD_ENV.token),
    project: read(CLOUD_ENV.project),
    credentialKey: read(CLOUD_ENV.credentialKey),
  };
}

/** The option's value, else the environment's, else a CloudConfigError saying how to set it. */
export function requireSetting(
  option: keyof typeof CLOUD_ENV,
  fromOptions: string | undefined,
  fromEnv: string | undefined,
): string {
  const value = fromOptions || fromEnv;
  if (!value) {
    throw new CloudConfigError(option, `${option} is not set: pass { ${option} } or set ${CLOUD_ENV[option]}`);
  }
  return value;
}
