import { create } from "@bufbuild/protobuf";
import {
  ProjectState,
  PullResponseSchema,
  ResourceKind,
  WatchResponseSchema,
  type Credential,
  type Tombstone,
  type WatchResponse,
} from "@engine-cloud/api";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { formatCredentialProject, formatCredentialRef, formatNamedValues, hideSecretValues } from "../parse/credential-format.js";
import { programName } from "../framework/help.js";
import { parseWholeNumber } from "../parse/whole-number.js";

const streamOptions = {
  project: {
    type: "string",
    required: true,
    placeholder: "<name>",
    description: "The project whose credentials to follow, as a runtime serving it would",
  },
  since: {
    type: "string",
    placeholder: "<revision>",
    description: "Start after this revision (default 0: a full snapshot first)",
  },
  "show-secrets": {
    type: "boolean",
    description: "Print secret values (hidden by default: a terminal is a log too)",
  },
} as const;

// Names the CLI in the server's logs and audit, next to the runtimes' own ids.
const runtimeId = `${programName}-cli`;

const watch = defineCommand({
  name: "watch",
  summary: "Print a project's credential changes as they happen, one line each, until interrupted",
  options: {
    ...streamOptions,
    heartbeats: { type: "boolean", description: "Print the stream's heartbeats too" },
  },
  async run(ctx, _args, options) {
    const sinceRevision = parseSince(options.since);
    const interrupted = ctx.untilInterrupted();
    // Where a second watch would pick up: the revision of the last event that completed a step.
    let resumeAt = sinceRevision;
    const resumeHint = () => `resume with: ${programName} sync watch --project ${options.project} --since ${resumeAt}`;
    const events = ctx.client().sync.watch({ project: options.project, sinceRevision, runtimeId }, { signal: interrupted });
    try {
      for await (const event of events) {
        // RESET's revision is where the snapshot after it ends, so resuming from it would skip the snapshot.
        if (event.event.case !== "reset") resumeAt = event.revision;
        if (event.event.case === "heartbeat" && !options.heartbeats) continue;
        const shown = options["show-secrets"] ? event : hideEventSecrets(event);
        ctx.out.item(WatchResponseSchema, shown, () => formatEvent(shown, options["show-secrets"]));
      }
    } catch (err) {
      // Ctrl-C (or SIGTERM) is how a watch is meant to end.
      if (interrupted.aborted) return;
      ctx.out.note(resumeHint());
      throw err;
    }
    if (interrupted.aborted) return;
    throw new Error(`the server ended the stream; ${resumeHint()}`);
  },
});

const pull = defineCommand({
  name: "pull",
  summary: "Print a project's credential changes since a revision, once (the catch-up of watch)",
  options: streamOptions,
  async run(ctx, _args, options) {
    const res = await ctx.client().sync.pull({ project: options.project, sinceRevision: parseSince(options.since) });
    const show = options["show-secrets"];
    const shown = create(PullResponseSchema, {
      revision: res.revision,
      events: show ? res.events : res.events.map(hideEventSecrets),
    });
    ctx.out.result(PullResponseSchema, shown, () =>
      // Ends the way watch's catch-up does, so the two read alike.
      [...shown.events.map((e) => formatEvent(e, show)), `${shown.revision} caught-up`].join("\n"),
    );
  },
});

export const syncCommands: CommandGroup = {
  name: "sync",
  summary: "See what runtimes receive: a project's credential changes, by revision",
  commands: [watch, pull],
};

function parseSince(since: string | undefined): bigint {
  return since === undefined ? 0n : parseWholeNumber("since", since);
}

function hideEventSecrets(event: WatchResponse): WatchResponse {
  if (event.event.case !== "upsert") return event;
  return create(WatchResponseSchema, {
    revision: event.revision,
    event: { case: "upsert", value: hideSecretValues(event.event.value) },
  });
}

/**
 * One line per event, revision first, so `grep` and `awk '{print $1}'` work on it:
 *   17 upsert hubspot/work project=p1 version=3 keys=access_token,refresh_token
 *   18 delete hubspot/work project=p1 id=…
 */
export function formatEvent(event: WatchResponse, showSecrets: boolean): string {
  const revision = String(event.revision);
  const { case: kind, value } = event.event;
  const credentialUpsert = (c: Credential) => {
    const keys = showSecrets
      ? formatNamedValues(Object.fromEntries(Object.entries(c.keys).map(([name, key]) => [name, key.value])))
      : `keys=${Object.keys(c.keys).join(",")}`;
    const where = `project=${formatCredentialProject(c.project)} version=${c.version}`;
    return `${revision} upsert ${formatCredentialRef(c)} ${where} ${keys}`;
  };
  const credentialDelete = (t: Tombstone) =>
    `${revision} delete ${formatCredentialRef(t)} project=${formatCredentialProject(t.project)} id=${t.id}`;
  switch (kind) {
    case "upsert":
      return credentialUpsert(value);
    case "delete":
      return credentialDelete(value);
    // Streams that name resource kinds (this command does not ask for them yet): the same lines, per kind.
    case "upsertResource": {
      const r = value.resource;
      if (r.case === "credential") return credentialUpsert(r.value);
      if (r.case === "project") return `${revision} upsert project ${r.value.name} state=${ProjectState[r.value.state]}`;
      return `${revision} upsert unknown-resource`;
    }
    case "deleteResource":
      if (value.credential) return credentialDelete(value.credential);
      return `${revision} delete ${ResourceKind[value.kind] ?? "unknown-resource"} ${value.id}`;
    case "reset":
      return `${revision} reset reason=${value.reason}`;
    case "caughtUp":
      return `${revision} caught-up`;
    case "heartbeat":
      return `${revision} heartbeat`;
    // The CLI names no kinds, so the server never sends these; a line anyway rather than a crash.
    case "upsertResource":
    case "deleteResource":
    case undefined:
      return `${revision} unknown-event`;
    default:
      return kind satisfies never;
  }
}
