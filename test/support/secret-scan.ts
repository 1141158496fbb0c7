import { clone, toJsonString } from "@bufbuild/protobuf";
import { CredentialSchema, WatchResponseSchema, type Credential, type WatchResponse } from "@engine-cloud/api";
import { describeCloudError } from "@engine-cloud/sdk";
import type { LoopbackAuthorizationServer } from "./loopback-authorization-server.js";

/**
 * The hub's secret scan (issue 11 §5): every token an authorization server
 * issued is searched for in everything the server let out — log lines,
 * errors, stream messages, credential reads. Access tokens are allowed in
 * exactly one place, the `access_token` key of a credential delivered to a
 * runtime; refresh tokens, authorization codes, id tokens and client secrets
 * are allowed nowhere.
 *
 * Collect as the test runs (`addLog`, `addError`, `addStreamMessage`,
 * `addCredential`), then `expect(scan.leaks(secretsOf(as))).toEqual([])`.
 */
export interface SecretScan {
  addLog(text: string): void;
  /** Any other text the server let out, e.g. a listing's JSON; `where` names it in the findings. */
  addText(where: string, text: string): void;
  /** An error a call or a stream ended with: its message and details, as a client sees them. */
  addError(err: unknown): void;
  addStreamMessage(message: WatchResponse): void;
  /** A credential as a read (GetCredential, ListCredentials, Pull) returned it. */
  addCredential(credential: Credential): void;
  /** One line per leak found: where, and which kind of secret (never the secret itself). */
  leaks(secrets: IssuedSecrets): string[];
}

export interface IssuedSecrets {
  /** Allowed only as a delivered credential's access_token. */
  accessTokens: Iterable<string>;
  /** Allowed nowhere: refresh tokens, codes, id tokens, client secrets; each with its kind ("a refresh token"). */
  neverShown: Map<string, string>;
}

/** Every secret a loopback authorization server issued or was configured with. */
export function secretsOf(...servers: LoopbackAuthorizationServer[]): IssuedSecrets {
  return {
    accessTokens: servers.flatMap((s) => [...s.issued.accessTokens]),
    neverShown: new Map(
      servers.flatMap((s) => [
        ...[...s.issued.refreshTokens].map((t) => [t, "a refresh token"] as const),
        ...[...s.issued.idTokens].map((t) => [t, "an id token"] as const),
        ...[...s.issued.codes].map((t) => [t, "an authorization code"] as const),
        [s.clientSecret, "a client secret"] as const,
      ]),
    ),
  };
}

/** The credential with its access token's value blanked: the one place that token may be. */
function withoutAccessToken(credential: Credential): Credential {
  const copy = clone(CredentialSchema, credential);
  if (copy.keys.access_token) copy.keys.access_token.value = "";
  return copy;
}

export function createSecretScan(): SecretScan {
  // Two haystacks per source: the text as it went out (refresh tokens and the rest are searched here) and the
  // same with delivered access tokens blanked (access tokens are searched here).
  const sources: Array<{ where: string; full: string; withoutDeliveries: string }> = [];
  const add = (where: string, full: string, withoutDeliveries = full) => sources.push({ where, full, withoutDeliveries });
  return {
    addLog: (text) => add("a server log", text),
    addText: (where, text) => add(where, text),
    addError: (err) => {
      const details = describeCloudError(err);
      add("an error", `${err instanceof Error ? err.message : String(err)}\n${JSON.stringify(details)}`);
    },
    addStreamMessage: (message) => {
      const full = toJsonString(WatchResponseSchema, message);
      if (message.event.case !== "upsert") return add("a stream message", full);
      const blanked = clone(WatchResponseSchema, message);
      blanked.event.value = withoutAccessToken(message.event.value);
      add("a stream message", full, toJsonString(WatchResponseSchema, blanked));
    },
    addCredential: (credential) =>
      add(
        "a credential read",
        toJsonString(CredentialSchema, credential),
        toJsonString(CredentialSchema, withoutAccessToken(credential)),
      ),
    leaks(secrets) {
      const never = new SubstringIndex(secrets.neverShown);
      const access = new SubstringIndex(new Map([...secrets.accessTokens].map((t) => [t, "an access token"])));
      const found = new Map<string, number>();
      const count = (line: string) => found.set(line, (found.get(line) ?? 0) + 1);
      for (const s of sources) {
        for (const kind of never.kindsIn(s.full)) count(`${kind} in ${s.where}`);
        if (access.kindsIn(s.withoutDeliveries).length > 0) count(`an access token in ${s.where} outside its delivery`);
      }
      return [...found].map(([line, n]) => `${line} (${n}×)`);
    },
  };
}

/** Shortest secret the index finds; every token, code and client secret is longer. */
const PREFIX = 16;

/**
 * Finds any of thousands of secrets in megabytes of text in one pass: the
 * secrets indexed by their first 16 characters, every position of the text
 * looked up once (a naive `includes` per secret would be secrets × text).
 */
class SubstringIndex {
  private readonly byPrefix = new Map<string, string[]>();
  /** `secrets`: each secret → its kind. */
  constructor(private readonly secrets: Map<string, string>) {
    for (const s of secrets.keys()) {
      if (s.length < PREFIX) throw new Error(`a secret of ${s.length} characters is too short to scan for`);
      const key = s.slice(0, PREFIX);
      const list = this.byPrefix.get(key);
      if (list) list.push(s);
      else this.byPrefix.set(key, [s]);
    }
  }

  /** The kind of each distinct secret found in `text` (empty when none). */
  kindsIn(text: string): string[] {
    const hits = new Set<string>();
    if (this.byPrefix.size === 0) return [];
    for (let i = 0; i + PREFIX <= text.length; i++) {
      const candidates = this.byPrefix.get(text.slice(i, i + PREFIX));
      if (!candidates) continue;
      for (const c of candidates) if (text.startsWith(c, i)) hits.add(c);
    }
    return [...hits].map((h) => this.secrets.get(h)!);
  }
}
