import { readFile } from "node:fs/promises";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  CredentialTypeSchema,
  DeleteCredentialResponseSchema,
  GetCredentialResponseSchema,
  ListCredentialsResponseSchema,
  PutCredentialResponseSchema,
  type Credential,
  type CredentialType,
  type GetCredentialRequestSchema,
} from "@engine-cloud/api";
import { defineCommand, type CommandContext, type CommandGroup } from "../framework/command.js";
import {
  formatCredentialProject,
  formatCredentialRef,
  formatNamedValues,
  hideSecretValues,
  parseCredentialRef,
} from "../parse/credential-format.js";
import { enumLabel, enumLabels, parseEnumLabel } from "../parse/enum-label.js";
import { parseKeyValues } from "../parse/key-value.js";
import { formatFields, formatInstant, formatRelative, formatTable } from "../framework/output.js";
import { collectPages } from "../framework/pages.js";
import { UsageError } from "../framework/usage-error.js";
import { parseWholeNumber } from "../parse/whole-number.js";

const refArg = "provider[/alias]";

const projectOption = {
  type: "string",
  placeholder: "<name>",
  description: "The credential's project (default: none, i.e. tenant-wide, seen by every project)",
} as const;

const showSecretsOption = {
  type: "boolean",
  description: "Print secret values (hidden by default: a terminal is a log too)",
} as const;

const put = defineCommand({
  name: "put",
  summary: "Create or replace a credential; runtimes watching its project receive it at once",
  args: [refArg],
  options: {
    project: projectOption,
    type: {
      type: "string",
      required: true,
      placeholder: "<type>",
      description: `The shape of the secrets: ${enumLabels(CredentialTypeSchema).join(", ")}`,
    },
    key: {
      type: "string",
      multiple: true,
      placeholder: "<name=value>",
      description: "A secret value; repeat for more. Shell history and ps see it: prefer --key-file or --key-stdin",
    },
    "key-file": {
      type: "string",
      multiple: true,
      placeholder: "<name=path>",
      description: "A secret value read from a file (one trailing newline is dropped); repeat for more",
    },
    "key-stdin": {
      type: "string",
      placeholder: "<name>",
      description: "A secret value read from standard input (one trailing newline is dropped)",
    },
    identity: {
      type: "string",
      multiple: true,
      placeholder: "<name=value>",
      description: "Non-secret account identity, e.g. email=ops@acme.com; repeat for more",
    },
    meta: {
      type: "string",
      multiple: true,
      placeholder: "<name=value>",
      description: "A non-secret label; repeat for more",
    },
    scope: {
      type: "string",
      multiple: true,
      placeholder: "<scope>",
      description: "An OAuth scope granted; repeat for more",
    },
    "auto-refresh": { type: "boolean", description: "Let the connector hub keep the tokens refreshed" },
    "expected-version": {
      type: "string",
      placeholder: "<n>",
      description: "Write only if the stored version is n (0: only if it does not exist yet); else VERSION_CONFLICT",
    },
  },
  async run(ctx, [ref], options) {
    const { provider, alias } = parseCredentialRef(ref);
    const type = parseCredentialType(options.type);
    const expected = options["expected-version"];
    const request = {
      project: options.project ?? "",
      provider,
      alias,
      type,
      identity: parseKeyValues("identity", options.identity),
      metadata: parseKeyValues("meta", options.meta),
      scopes: options.scope,
      autoRefresh: options["auto-refresh"],
      expectedVersion: expected === undefined ? undefined : parseWholeNumber("expected-version", expected),
    };
    // Every flag is checked before standard input is read, so a typo does not swallow a piped secret.
    const keys = await readSecretValues(ctx, options);
    const res = await ctx.client().credentials.putCredential({
      ...request,
      keys: Object.fromEntries(Object.entries(keys).map(([name, value]) => [name, { value }])),
    });
    const stored = res.credential && hideSecretValues(res.credential);
    // The caller holds the secrets already; echoing them back would only copy them into a terminal or CI log.
    ctx.out.result(PutCredentialResponseSchema, create(PutCredentialResponseSchema, { credential: stored }), () =>
      stored
        ? `Stored credential ${formatCredentialRef(stored)} for project ${formatCredentialProject(stored.project)} ` +
          `(id ${stored.id}, version ${stored.version}, revision ${stored.revision}).`
        : "",
    );
  },
});

const get = defineCommand({
  name: "get",
  summary: "Show one credential, by name or --id; secret values only with --show-secrets",
  optionalArgs: [refArg],
  options: {
    project: projectOption,
    id: { type: "string", placeholder: "<id>", description: "The credential's id, instead of its name" },
    "show-secrets": showSecretsOption,
  },
  async run(ctx, [ref], options) {
    const res = await ctx.client().credentials.getCredential(credentialLookup(ref, options.id, options.project));
    const show = options["show-secrets"];
    const credential = res.credential && (show ? res.credential : hideSecretValues(res.credential));
    if (!show && credential && Object.keys(credential.keys).length > 0) {
      ctx.out.note("Secret values are hidden; pass --show-secrets to print them.");
    }
    ctx.out.result(GetCredentialResponseSchema, create(GetCredentialResponseSchema, { credential }), () =>
      credential ? formatCredentialFields(credential, ctx.now, show) : "",
    );
  },
});

const list = defineCommand({
  name: "list",
  summary: "List credentials and their key names, never their secret values",
  options: {
    project: {
      type: "string",
      placeholder: "<name>",
      description: "Only the credentials this project sees: its own and the tenant-wide ones",
    },
    provider: { type: "string", placeholder: "<provider>", description: "Only this provider's credentials" },
  },
  async run(ctx, _args, options) {
    const listed = await collectPages(async (pageToken) => {
      const res = await ctx.client().credentials.listCredentials({
        pageToken,
        project: options.project ?? "",
        provider: options.provider ?? "",
      });
      return { items: res.credentials, nextPageToken: res.nextPageToken };
    });
    // Listings carry no values by contract; emptying them here as well keeps that true whatever the server does.
    const credentials = listed.map(hideSecretValues);
    ctx.out.result(ListCredentialsResponseSchema, create(ListCredentialsResponseSchema, { credentials }), () =>
      credentials.length === 0
        ? "No credentials."
        : formatTable(
            ["id", "project", "provider", "alias", "type", "keys", "version", "updated"],
            credentials.map((c) => [
              c.id,
              formatCredentialProject(c.project),
              c.provider,
              c.alias,
              enumLabel(CredentialTypeSchema, c.type),
              Object.keys(c.keys).join(","),
              String(c.version),
              formatRelative(c.updatedAt, ctx.now),
            ]),
          ),
    );
  },
});

const remove = defineCommand({
  name: "delete",
  summary: "Delete a credential; runtimes watching its project drop it at once",
  args: ["id"],
  options: {
    "expected-version": {
      type: "string",
      placeholder: "<n>",
      description: "Delete only if the stored version is n; else VERSION_CONFLICT",
    },
  },
  async run(ctx, [id], options) {
    const expected = options["expected-version"];
    const res = await ctx.client().credentials.deleteCredential({
      id,
      expectedVersion: expected === undefined ? undefined : parseWholeNumber("expected-version", expected, 1),
    });
    ctx.out.result(DeleteCredentialResponseSchema, res, () => `Deleted credential ${id} (revision ${res.revision}).`);
  },
});

export const credentialCommands: CommandGroup = {
  name: "credential",
  summary: "Store, inspect and delete the credentials runtimes sync",
  commands: [put, get, list, remove],
};

/** The CLI says api-key, like every enum word it prints; api_key, as Engine OSS writes it, is read too. */
function parseCredentialType(label: string): CredentialType {
  const type = parseEnumLabel(CredentialTypeSchema, label.replaceAll("_", "-"));
  if (type === undefined) {
    throw new UsageError(`invalid --type "${label}": use one of ${enumLabels(CredentialTypeSchema).join(", ")}`);
  }
  return type;
}

/** The secret values of `put`, from --key, --key-file and --key-stdin together, each name once. */
async function readSecretValues(
  ctx: CommandContext,
  options: { key: string[]; "key-file": string[]; "key-stdin"?: string },
): Promise<Record<string, string>> {
  const values = new Map(Object.entries(parseKeyValues("key", options.key)));
  const files = Object.entries(parseKeyValues("key-file", options["key-file"]));
  const stdinName = options["key-stdin"];
  // Names first, contents after: a clash is reported before any file or standard input is read.
  const names = [...values.keys(), ...files.map(([name]) => name), ...(stdinName === undefined ? [] : [stdinName])];
  if (names.length === 0) throw new UsageError("give at least one secret value with --key, --key-file or --key-stdin");
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) {
    throw new UsageError(`secret key "${twice}" is given more than once (by --key, --key-file or --key-stdin)`);
  }
  for (const [name, file] of files) values.set(name, dropFinalNewline(await readSecretFile(name, file)));
  if (stdinName !== undefined) values.set(stdinName, dropFinalNewline(await ctx.readStdin()));
  return Object.fromEntries(values);
}

async function readSecretFile(name: string, file: string): Promise<string> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const reason = (err as { code?: string }).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new UsageError(`cannot read --key-file ${name}=${file}: ${reason}`);
  }
}

// `echo "$TOKEN" > file` and a heredoc both end the value with a newline no API key contains; like `$(cat file)`,
// the line ending goes. Only one: anything more was put there on purpose.
function dropFinalNewline(text: string): string {
  return text.replace(/\r?\n$/, "");
}

/** GetCredential's request: by id alone, or by name within a project. */
function credentialLookup(
  ref: string | undefined,
  id: string | undefined,
  project: string | undefined,
): MessageInitShape<typeof GetCredentialRequestSchema> {
  if (id !== undefined) {
    if (ref !== undefined || project !== undefined) {
      throw new UsageError(`--id names the credential by itself: leave out <${refArg}> and --project`);
    }
    return { id };
  }
  if (ref === undefined) throw new UsageError(`name the credential: <${refArg}> or --id <id>`);
  return { ...parseCredentialRef(ref), project: project ?? "" };
}

function formatCredentialFields(credential: Credential, now: Date, showSecrets: boolean): string {
  const keys = Object.entries(credential.keys).map(([name, key]): [string, string] => {
    const value = showSecrets ? key.value : "(hidden)";
    const expiry = key.expiresAt ? ` (expires ${formatRelative(key.expiresAt, now)})` : "";
    return [`Key ${name}`, `${value}${expiry}`];
  });
  return formatFields([
    ["ID", credential.id],
    ["Project", formatCredentialProject(credential.project)],
    ["Provider", credential.provider],
    ["Alias", credential.alias],
    ["Type", enumLabel(CredentialTypeSchema, credential.type)],
    ["Identity", formatNamedValues(credential.identity)],
    ["Metadata", formatNamedValues(credential.metadata)],
    ["Scopes", credential.scopes.join(", ")],
    ["Auto refresh", credential.autoRefresh ? "yes" : "no"],
    ["Version", String(credential.version)],
    ["Revision", String(credential.revision)],
    ["Created", `${formatInstant(credential.createdAt, now)} by ${credential.createdBy || "unknown"}`],
    ["Updated", `${formatInstant(credential.updatedAt, now)} by ${credential.updatedBy || "unknown"}`],
    ...keys,
  ]);
}
