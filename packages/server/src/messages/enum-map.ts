import { timestampFromDate } from "@bufbuild/protobuf/wkt";

/**
 * One table between a column's string values and a proto enum, read both
 * ways. Values from the wire are validated by protovalidate before they get
 * here, so a miss is a programming error, not bad input.
 */
export function protoEnumMap<Col extends string, E extends number>(table: Record<Col, E>) {
  const back = new Map<E, Col>(Object.entries(table).map(([col, e]) => [e as E, col as Col]));
  return {
    toProto: (col: Col): E => table[col],
    fromProto(e: E): Col {
      const col = back.get(e);
      if (col === undefined) throw new Error(`no column value for enum number ${e}`);
      return col;
    },
  };
}

/** A nullable timestamp column as an optional proto Timestamp. */
export const optionalTimestamp = (d: Date | null | undefined) => (d ? timestampFromDate(d) : undefined);
