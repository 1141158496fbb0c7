import type { OAuthProvider } from "@engine-cloud/api";
import { invalidArgument } from "../errors/domain-error.js";

/**
 * Fills a provider URL's "{name}" placeholders. Values are validated on the
 * wire as letters, digits, "-" and "." (so a value can add a subdomain but
 * never a "/", "@" or ":" that would move the request to another host); every
 * placeholder the provider declares must be given, and no other.
 */
export function fillProviderUrl(template: string, provider: OAuthProvider, values: Record<string, string>): string {
  for (const name of Object.keys(values)) {
    if (!provider.urlParameters.includes(name)) {
      throw invalidArgument(
        "url_parameters",
        `${provider.id} takes no URL parameter "${name}" (it takes: ${provider.urlParameters.join(", ") || "none"})`,
      );
    }
  }
  return template.replace(/\{([a-z][a-z0-9_]*)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined)
      throw invalidArgument("url_parameters", `${provider.id} needs the URL parameter "${name}" (e.g. --param ${name}=…)`);
    return value;
  });
}
