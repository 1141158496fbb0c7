/**
 * The fast path of verifying an export (audit-chain.ts createExportVerifier):
 * an event line as `exportLines` writes it is turned into the bytes
 * `canonicalEvent` would hash, by copying the line's own tokens, without
 * JSON.parse, Date, hex decoding or re-serialising. A million events are half
 * a gigabyte of JSON Lines; parsing and re-encoding them cost four times the
 * hashing.
 *
 * Why copying is sound: the line is taken apart at its keys, in exportLines'
 * order, and at the quotes of string tokens without a backslash (so a token
 * here is the token JSON sees); the tokens are put together as canonicalEvent
 * would (the actor's and detail's pairs sorted). If those bytes hash to the
 * line's hash, they are the bytes the writer hashed (SHA-256), so every token
 * is what JSON.stringify wrote for the event's value and JSON.parse reads the
 * event back from the line. Whatever else fails here — a line in another
 * form, an escape, a hash that does not match — the line is parsed in full
 * and decided by the slow path, so no line is refused here that the slow path
 * would take (audit-event-line.test.ts compares the two).
 */

/** Where the last accepted line's parts are, and its canonical bytes. */
export interface EventLineParts {
  /** The canonical encoding: `bytes[0, length)`, valid until the next line. */
  bytes: Uint8Array;
  length: number;
  seq: number;
  /** The chain's JSON string token, quotes included: [chainStart, chainEnd). */
  chainStart: number;
  chainEnd: number;
  /** The first of the 64 hex digits of prev_hash and of hash. */
  prevHashAt: number;
  hashAt: number;
}

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const [OPEN, SEQ, TENANT, AT, ACTOR, REQUEST, PEER, AGENT, ACTION, TARGET, OUTCOME, DETAIL, PREV, HASH] = [
  '{"type":"event","chain":',
  ',"seq":',
  ',"tenant_id":',
  ',"at":',
  ',"actor":',
  ',"request_id":',
  ',"peer":',
  ',"user_agent":',
  ',"action":',
  ',"target":',
  ',"outcome":',
  ',"detail":',
  ',"prev_hash":',
  ',"hash":',
].map(ascii);
/** canonicalEvent's version tag, opening its array. */
const CANONICAL_OPEN = ascii('["engine-cloud-audit-v1",');
const QUOTE = 0x22;
const SPACE = 0x20;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const BRACE_OPEN = 0x7b;
const BRACE_CLOSE = 0x7d;
const BRACKET_OPEN = 0x5b;
const BRACKET_CLOSE = 0x5d;
const ZERO = 0x30;
const NINE = 0x39;
/** An object of more keys than this (an actor has 2–4, a detail a handful) takes the slow path. */
const MAX_PAIRS = 64;
const PLAIN_FIELDS = [REQUEST, PEER, AGENT, ACTION, TARGET, OUTCOME];

/** After the string token at `p` (one without a backslash, so its first closing quote ends it), or -1. */
function stringEnd(line: Uint8Array, p: number, end: number): number {
  if (line[p] !== QUOTE) return -1;
  for (let q = p + 1; q < end; q++) {
    const b = line[q];
    if (b === QUOTE) return q + 1;
    if (b === BACKSLASH) return -1;
  }
  return -1;
}

/** After the literal at `p`, or -1. */
function literalEnd(line: Uint8Array, p: number, end: number, lit: Uint8Array): number {
  if (p + lit.length > end) return -1;
  for (let i = 0; i < lit.length; i++) if (line[p + i] !== lit[i]) return -1;
  return p + lit.length;
}

/** After a number, true, false or null at `p` (its bytes are hashed as they are), or -1. */
function scalarEnd(line: Uint8Array, p: number, end: number): number {
  let q = p;
  for (; q < end; q++) {
    const b = line[q];
    // Digits, sign, point, exponent, and the letters of true, false and null.
    if (!((b >= 0x2b && b <= NINE && b !== 0x2f && b !== COMMA) || (b >= 0x61 && b <= 0x7a) || b === 0x45)) break;
  }
  return q > p ? q : -1;
}

/** Copies `line[from, to)` to `out[o…]`; returns where the copy ends in `out`. */
function copy(line: Uint8Array, from: number, to: number, out: Uint8Array, o: number): number {
  for (let i = from; i < to; i++) out[o++] = line[i];
  return o;
}

/** After a 64-character hash token: what its digits say is checked against the hash itself. */
function hashTokenEnd(line: Uint8Array, p: number, end: number): number {
  return p + 66 <= end && line[p] === QUOTE && line[p + 65] === QUOTE ? p + 66 : -1;
}

/**
 * A canonicaliser with its own scratch space: `scan(line, start, end)`
 * returns the parts of the event line `line[start, end)`, or undefined when
 * the line is not in exportLines' exact form (the caller then parses it).
 */
export function createEventLineScanner(): { scan(line: Uint8Array, start: number, end: number): EventLineParts | undefined } {
  const parts: EventLineParts = {
    bytes: new Uint8Array(4096),
    length: 0,
    seq: 0,
    chainStart: 0,
    chainEnd: 0,
    prevHashAt: 0,
    hashAt: 0,
  };
  // [keyStart, keyEnd, valueStart, valueEnd] per pair of the object being read, and their sorted order.
  const pairs = new Int32Array(MAX_PAIRS * 4);
  const order = new Int32Array(MAX_PAIRS);

  const keyLess = (line: Uint8Array, a: number, b: number): boolean => {
    // Byte order, which is sortedObject's UTF-16 order for ASCII keys; a line whose other keys sort differently
    // fails its hash here and goes the slow way.
    const aFrom = pairs[a * 4] + 1;
    const aTo = pairs[a * 4 + 1] - 1;
    const bFrom = pairs[b * 4] + 1;
    const bTo = pairs[b * 4 + 1] - 1;
    for (let i = 0; ; i++) {
      if (aFrom + i === aTo) return bFrom + i !== bTo;
      if (bFrom + i === bTo) return false;
      const d = line[aFrom + i] - line[bFrom + i];
      if (d !== 0) return d < 0;
    }
  };

  /**
   * The object of scalars (strings, numbers, true, false, null) at `p`, as
   * JSON.stringify writes it or as PostgreSQL prints a jsonb (a space after
   * each colon and comma: the database writes the export's lines),
   * written to `out[o…]` as canonicalEvent's sorted [[key, value], …]. Returns
   * the position after it in the line; `parts.length` is where `out` ends.
   */
  const object = (line: Uint8Array, p: number, end: number, out: Uint8Array, o: number): number => {
    if (line[p++] !== BRACE_OPEN) return -1;
    let n = 0;
    if (line[p] === BRACE_CLOSE) p++;
    else
      for (;;) {
        if (n === MAX_PAIRS) return -1;
        pairs[n * 4] = p;
        p = stringEnd(line, p, end);
        if (p < 0 || line[p++] !== COLON) return -1;
        pairs[n * 4 + 1] = p - 1;
        if (line[p] === SPACE) p++;
        pairs[n * 4 + 2] = p;
        p = line[p] === QUOTE ? stringEnd(line, p, end) : scalarEnd(line, p, end);
        if (p < 0) return -1;
        pairs[n * 4 + 3] = p;
        n++;
        const next = line[p++];
        if (next === BRACE_CLOSE) break;
        if (next !== COMMA) return -1;
        if (line[p] === SPACE) p++;
      }
    for (let i = 0; i < n; i++) {
      let j = i;
      while (j > 0 && keyLess(line, i, order[j - 1])) {
        order[j] = order[j - 1];
        j--;
      }
      order[j] = i;
    }
    out[o++] = BRACKET_OPEN;
    for (let i = 0; i < n; i++) {
      const k = order[i] * 4;
      if (i > 0) out[o++] = COMMA;
      out[o++] = BRACKET_OPEN;
      o = copy(line, pairs[k], pairs[k + 1], out, o);
      out[o++] = COMMA;
      o = copy(line, pairs[k + 2], pairs[k + 3], out, o);
      out[o++] = BRACKET_CLOSE;
    }
    out[o++] = BRACKET_CLOSE;
    parts.length = o;
    return p;
  };

  /** `,"key":` and a string token at `p`, copied to `out` after a comma. Returns the position after it, or -1. */
  const stringField = (line: Uint8Array, p: number, end: number, key: Uint8Array, out: Uint8Array): number => {
    const from = literalEnd(line, p, end, key);
    if (from < 0) return -1;
    const to = stringEnd(line, from, end);
    if (to < 0) return -1;
    out[parts.length] = COMMA;
    parts.length = copy(line, from, to, out, parts.length + 1);
    return to;
  };

  const scanLine = (line: Uint8Array, p: number, end: number, out: Uint8Array): boolean => {
    p = literalEnd(line, p, end, OPEN);
    if (p < 0) return false;
    let o = copy(CANONICAL_OPEN, 0, CANONICAL_OPEN.length, out, 0);
    parts.chainStart = p;
    p = stringEnd(line, p, end);
    if (p < 0) return false;
    parts.chainEnd = p;
    o = copy(line, parts.chainStart, p, out, o);

    let from = literalEnd(line, p, end, SEQ);
    if (from < 0) return false;
    let seq = 0;
    for (p = from; p < end && line[p] >= ZERO && line[p] <= NINE && p - from < 15; p++) seq = seq * 10 + line[p] - ZERO;
    if (p === from) return false;
    parts.seq = seq;
    out[o++] = COMMA;
    o = copy(line, from, p, out, o);

    from = literalEnd(line, p, end, TENANT);
    if (from < 0) return false;
    p = line[from] === QUOTE ? stringEnd(line, from, end) : scalarEnd(line, from, end);
    if (p < 0) return false;
    out[o++] = COMMA;
    o = copy(line, from, p, out, o);

    from = literalEnd(line, p, end, AT);
    if (from < 0) return false;
    p = stringEnd(line, from, end);
    if (p < 0) return false;
    out[o++] = COMMA;
    o = copy(line, from, p, out, o);

    p = literalEnd(line, p, end, ACTOR);
    if (p < 0) return false;
    out[o++] = COMMA;
    p = object(line, p, end, out, o);
    if (p < 0) return false;

    for (const key of PLAIN_FIELDS) {
      p = stringField(line, p, end, key, out);
      if (p < 0) return false;
    }

    p = literalEnd(line, p, end, DETAIL);
    if (p < 0) return false;
    out[parts.length] = COMMA;
    p = object(line, p, end, out, parts.length + 1);
    if (p < 0) return false;
    o = parts.length;

    from = literalEnd(line, p, end, PREV);
    if (from < 0) return false;
    p = hashTokenEnd(line, from, end);
    if (p < 0) return false;
    parts.prevHashAt = from + 1;
    out[o++] = COMMA;
    o = copy(line, from, p, out, o);
    out[o++] = BRACKET_CLOSE;
    parts.length = o;

    from = literalEnd(line, p, end, HASH);
    if (from < 0) return false;
    p = hashTokenEnd(line, from, end);
    if (p < 0) return false;
    parts.hashAt = from + 1;
    return line[p] === BRACE_CLOSE && p + 1 === end;
  };

  return {
    scan(line, start, end) {
      // Every read stops at the first byte that is not what the form expects, and the byte at `end` must not be one
      // it could expect, so no read strays past the line.
      if (end < line.length && line[end] !== 0x0a) return undefined;
      // The canonical form is never longer than the line plus two brackets per pair and the version tag.
      if (parts.bytes.length < (end - start) * 2 + 64) parts.bytes = new Uint8Array((end - start) * 4 + 64);
      return scanLine(line, start, end, parts.bytes) ? parts : undefined;
    },
  };
}
