import { createReadStream, createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { fromJson } from "@bufbuild/protobuf";
import { StructSchema, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ListAuditEventsResponseSchema, WatchAuditEventsResponseSchema, type AuditEvent } from "@engine-cloud/api";
import { createExportVerifier } from "@engine-cloud/api/audit-chain.js";
import type { CloudClient } from "@engine-cloud/sdk";
import { defineCommand, type CommandGroup } from "../framework/command.js";
import { formatTable } from "../framework/output.js";
import { UsageError } from "../framework/usage-error.js";

const chainOption = {
  platform: { type: "boolean", description: "The platform chain instead of the tenant's (platform administrators)" },
} as const;

const filterOptions = {
  ...chainOption,
  action: { type: "string", placeholder: "<action>", description: "Only this action, e.g. credential.read" },
  actor: { type: "string", placeholder: "<actor>", description: "Only this actor: token:<id>, user:<id>, system:<job>" },
  target: { type: "string", placeholder: "<target>", description: "Only this target, e.g. credential:<id>" },
  outcome: { type: "string", placeholder: "<outcome>", description: "Only this outcome: ok, or an error reason" },
  since: { type: "string", placeholder: "<time>", description: "Only events at or after this ISO time" },
  until: { type: "string", placeholder: "<time>", description: "Only events before this ISO time" },
} as const;

function instant(flag: string, value: string | undefined) {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${flag}: not an ISO time: ${value}`);
  return timestampFromDate(d);
}

const actorOf = (e: AuditEvent) =>
  e.actor?.kind === "system" ? (e.actor.fields.job ?? "system") : e.actor?.id ? `${e.actor.kind}:${e.actor.id}` : e.actor?.kind;

const lineOf = (e: AuditEvent) => [
  String(e.seq),
  e.time ? timestampDate(e.time).toISOString() : "",
  actorOf(e) ?? "",
  e.action,
  e.target,
  e.outcome,
];

const list = defineCommand({
  name: "list",
  summary: "List the tenant's audit events, oldest first",
  options: {
    ...filterOptions,
    after: { type: "string", placeholder: "<seq>", description: "Only events after this sequence number" },
    limit: { type: "string", placeholder: "<n>", description: "At most this many events (default 100, at most 1000)" },
  },
  async run(ctx, _args, o) {
    const res = await ctx.client().audit.listAuditEvents({
      filter: {
        platform: o.platform,
        action: o.action,
        actor: o.actor,
        target: o.target,
        outcome: o.outcome,
        since: instant("since", o.since),
        until: instant("until", o.until),
      },
      afterSeq: BigInt(o.after ?? 0),
      pageSize: Number(o.limit ?? 0),
    });
    ctx.out.result(ListAuditEventsResponseSchema, res, () =>
      res.events.length === 0
        ? "No events."
        : formatTable(["seq", "time", "actor", "action", "target", "outcome"], res.events.map(lineOf)) +
          (res.nextAfterSeq ? `\nMore: --after ${res.nextAfterSeq}` : ""),
    );
  },
});

const tail = defineCommand({
  name: "tail",
  summary: "Print audit events as they are written, until interrupted; resume with --after",
  options: {
    ...filterOptions,
    after: { type: "string", placeholder: "<seq>", description: "Start after this sequence number (default: the start)" },
  },
  async run(ctx, _args, o) {
    const interrupted = ctx.untilInterrupted();
    const stream = ctx.client().audit.watchAuditEvents(
      {
        filter: { platform: o.platform, action: o.action, actor: o.actor, target: o.target, outcome: o.outcome },
        afterSeq: BigInt(o.after ?? 0),
      },
      { signal: interrupted },
    );
    try {
      for await (const r of stream) {
        if (!r.event) continue; // a caught-up marker: the stream is open and current
        ctx.out.item(WatchAuditEventsResponseSchema, r, () => lineOf(r.event!).join("  "));
      }
    } catch (err) {
      if (interrupted.aborted) return;
      throw err;
    }
  },
});

/** The export's bytes as the server streams them (a chain may be far larger than one string can hold). */
async function* exportChunks(client: CloudClient, platform: boolean): AsyncGenerator<Uint8Array> {
  for await (const r of client.audit.exportAuditEvents({ platform })) yield r.lines;
}

const exportCommand = defineCommand({
  name: "export",
  summary: "Write the chain as JSON Lines (events, then signed checkpoints) to stdout or a file",
  options: {
    ...chainOption,
    output: { type: "string", placeholder: "<file>", description: "Write here instead of stdout" },
  },
  async run(ctx, _args, o) {
    const chunks = exportChunks(ctx.client(), o.platform);
    if (!o.output) return pipeline(chunks, process.stdout);
    let lines = 0;
    const counted = async function* () {
      for await (const c of chunks) {
        for (const b of c) if (b === 0x0a) lines++;
        yield c;
      }
    };
    await pipeline(counted(), createWriteStream(o.output, { mode: 0o600 }));
    ctx.out.note(`Wrote ${lines} lines to ${o.output}.`);
  },
});

/** Reads of an export file: large enough that splitting lines, not system calls, is the cost. */
const FILE_CHUNK = 1 << 20;

const verify = defineCommand({
  name: "verify",
  summary: "Verify a chain (from the server, or an export file offline) and report its first broken link",
  options: {
    ...chainOption,
    file: { type: "string", placeholder: "<file>", description: "Verify this export file instead of asking the server" },
    "public-key": {
      type: "string",
      placeholder: "<hex>",
      description: "The server's checkpoint key (SPKI DER, hex) from an earlier `audit key`; default: ask the server",
    },
  },
  async run(ctx, _args, o) {
    // Checked as it streams: a million events are over half a gigabyte of JSON Lines, none of it kept.
    const verifier = createExportVerifier();
    const source = o.file ? createReadStream(o.file, { highWaterMark: FILE_CHUNK }) : exportChunks(ctx.client(), o.platform);
    for await (const chunk of source) verifier.write(chunk);
    if (!verifier.header) throw new Error("the export has no header line");
    const key = o["public-key"]
      ? new Uint8Array(Buffer.from(o["public-key"], "hex"))
      : (await ctx.client().audit.getAuditPublicKey({})).publicKey;
    const { header, events, checkpoints, lastSeq, broken } = verifier.end(key);
    if (broken) throw new Error(`the audit chain ${header.chain} is broken at event ${broken.seq}: ${broken.problem}`);
    const summary = { chain: header.chain, events, checkpoints, last_seq: lastSeq };
    ctx.out.result(
      StructSchema,
      fromJson(StructSchema, summary),
      () =>
        `verified: chain ${summary.chain}, ${summary.events} events, ${summary.checkpoints} signed checkpoints, ` +
        `last event ${summary.last_seq}`,
    );
  },
});

export const auditCommands: CommandGroup = {
  name: "audit",
  summary: "Read, tail, export and verify the audit log",
  commands: [list, tail, exportCommand, verify],
};
