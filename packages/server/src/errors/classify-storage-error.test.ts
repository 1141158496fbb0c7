import * as net from "node:net";
import { reasonName } from "@engine-cloud/api";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { classifyStorageError } from "./classify-storage-error.js";

/** The error node-postgres builds from a server ErrorResponse with this SQLSTATE. */
function serverError(code: string, message = "from the server"): pg.DatabaseError {
  const err = new pg.DatabaseError(message, 0, "error");
  err.code = code;
  return err;
}

const verdict = (err: unknown) => {
  const e = classifyStorageError(err);
  return e && [e.kind, reasonName(e.reason)];
};

/** A port nothing listens on (just closed), for real refused connections. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("classifyStorageError", () => {
  it("calls a full disk (53100, ENOSPC) RESOURCE_EXHAUSTED with DATABASE_DISK_FULL", () => {
    expect(verdict(serverError("53100", "could not extend file: No space left on device"))).toEqual([
      "resource_exhausted",
      "DATABASE_DISK_FULL",
    ]);
    expect(verdict(Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" }))).toEqual([
      "resource_exhausted",
      "DATABASE_DISK_FULL",
    ]);
  });

  it("calls the other insufficient-resources errors (53xxx) RESOURCE_EXHAUSTED", () => {
    for (const code of ["53000", "53200", "53300", "53400"]) {
      expect(verdict(serverError(code))).toEqual(["resource_exhausted", "DATABASE_RESOURCES_EXHAUSTED"]);
    }
  });

  it("calls connection loss, shutdown and I/O failure of the database UNAVAILABLE", () => {
    for (const code of ["08006", "08001", "57P01", "57P02", "57P03", "58030", "3D000"]) {
      expect(verdict(serverError(code))).toEqual(["unavailable", "DATABASE_UNAVAILABLE"]);
    }
    expect(verdict(new Error("Connection terminated unexpectedly"))).toEqual(["unavailable", "DATABASE_UNAVAILABLE"]);
  });

  it("calls statement, lock and idle-in-transaction timeouts and pool waits UNAVAILABLE with DATABASE_TIMEOUT", () => {
    for (const code of ["57014", "55P03", "25P03"])
      expect(verdict(serverError(code))).toEqual(["unavailable", "DATABASE_TIMEOUT"]);
    expect(verdict(new Error("timeout exceeded when trying to connect"))).toEqual(["unavailable", "DATABASE_TIMEOUT"]);
    expect(verdict(new Error("Connection terminated due to connection timeout", { cause: new Error("x") }))).toEqual([
      "unavailable",
      "DATABASE_TIMEOUT",
    ]);
  });

  it("calls serialization failures and deadlocks ABORTED: the call may be retried", () => {
    for (const code of ["40001", "40P01"]) expect(verdict(serverError(code))).toEqual(["aborted", "TRANSACTION_CONFLICT"]);
  });

  it("recognises a real refused connection, from node and from node-postgres", async () => {
    const port = await closedPort();
    const socketError = await new Promise<Error>((resolve) => net.connect(port, "127.0.0.1").once("error", resolve));
    expect(verdict(socketError)).toEqual(["unavailable", "DATABASE_UNAVAILABLE"]);
    const client = new pg.Client({ host: "127.0.0.1", port, user: "nobody" });
    const pgError = await client.connect().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(verdict(pgError)).toEqual(["unavailable", "DATABASE_UNAVAILABLE"]);
  });

  it("leaves bugs alone: syntax errors, constraint violations and plain errors stay unclassified (INTERNAL)", () => {
    for (const code of ["42601", "42P01", "23505", "22P02", "XX000"])
      expect(classifyStorageError(serverError(code))).toBeUndefined();
    expect(classifyStorageError(new TypeError("cannot read properties of undefined"))).toBeUndefined();
    expect(classifyStorageError("a string")).toBeUndefined();
  });
});
