import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { sql, type Kysely } from "kysely";

/** Everything a database holds, in the forms a secret could be read from. */
export interface DatabaseDump {
  /** Every row of every table as JSON, byte strings as hex. */
  text: string;
  /** The byte strings themselves, concatenated as stored. */
  bytes: Buffer;
}

/**
 * Reads every row of every table of the public schema on the owner
 * connection (which row-level security does not confine): what someone
 * holding a copy of the database would see.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function dumpPublicTables(db: Kysely<any>): Promise<DatabaseDump> {
  const tables = await sql<{ table_name: string }>`
    SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
  `.execute(db);
  const lines: string[] = [];
  const raw: Buffer[] = [];
  for (const { table_name } of tables.rows) {
    const rows = await sql<Record<string, unknown>>`SELECT * FROM ${sql.table(table_name)}`.execute(db);
    for (const row of rows.rows) {
      lines.push(
        `${table_name} ${JSON.stringify(row, (_k, v) => {
          if (v instanceof Uint8Array) {
            raw.push(Buffer.from(v));
            return `\\x${Buffer.from(v).toString("hex")}`;
          }
          // JSON.stringify has already turned a Buffer into {type, data} by the time the replacer sees it.
          if (v && typeof v === "object" && v.type === "Buffer" && Array.isArray(v.data)) {
            raw.push(Buffer.from(v.data));
            return `\\x${Buffer.from(v.data).toString("hex")}`;
          }
          return typeof v === "bigint" ? String(v) : v;
        })}`,
      );
    }
  }
  return { text: lines.join("\n"), bytes: Buffer.concat(raw) };
}

/** The contents of every file under `dir`, concatenated. */
export function readEveryFile(dir: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d)) {
      const p = path.join(d, entry);
      if (statSync(p).isDirectory()) walk(p);
      else parts.push(readFileSync(p));
    }
  };
  walk(dir);
  return Buffer.concat(parts);
}

/** The forms a leaked secret would take in a dump: itself, base64, hex. */
export function encodingsOf(secret: string): string[] {
  const bytes = Buffer.from(secret);
  return [secret, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex")];
}
