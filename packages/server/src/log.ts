export type LogLevel = "debug" | "info" | "warn" | "error";

/** "json": one object a line, for machines (the default off a terminal); "pretty": one readable line, for people. */
export type LogFormat = "json" | "pretty";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * One event a line, JSON by default. Callers pass ids and codes, never
 * secrets: no field here is redacted after the fact, so nothing secret may be
 * handed in. Both formats carry the same fields; only the layout differs.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (l) => process.stdout.write(l),
  format: LogFormat = "json",
): Logger {
  const render = format === "pretty" ? prettyLine : jsonLine;
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (rank[lvl] < rank[level]) return;
    write(render(new Date(), lvl, msg, fields) + "\n");
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

function jsonLine(time: Date, level: LogLevel, msg: string, fields?: LogFields): string {
  return JSON.stringify({ time: time.toISOString(), level, msg, ...fields });
}

const LEVEL_TAG: Record<LogLevel, string> = { debug: "DEBUG", info: "INFO ", warn: "WARN ", error: "ERROR" };

/**
 * `12:04:05.123 INFO  rpc engine.cloud.v1.TokenService/ListTokens OK 2.1ms request_id=… tenant=…`: the time of
 * day, the level, the message, then every field as key=value (undefined ones left out, values with spaces
 * quoted as JSON). An RPC line leads with its method, code and duration, which is what a person scans for.
 */
function prettyLine(time: Date, level: LogLevel, msg: string, fields: LogFields = {}): string {
  const { method, code, duration_ms, ...rest } = fields;
  const head = [time.toISOString().slice(11, 23), LEVEL_TAG[level], msg];
  if (method !== undefined) head.push(String(method));
  if (code !== undefined) head.push(String(code));
  if (typeof duration_ms === "number") head.push(`${duration_ms}ms`);
  const tail = Object.entries(rest)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${prettyValue(v)}`);
  return [...head, ...tail].join(" ");
}

function prettyValue(v: unknown): string {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return /^[^\s"=]*$/.test(text) && text !== "" ? text : JSON.stringify(text);
}
