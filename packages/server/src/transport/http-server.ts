import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

/** What connectNodeAdapter returns; it serves both http and http2 requests. */
export type RequestHandler = ReturnType<typeof connectNodeAdapter>;

export interface ListenOptions {
  host: string;
  /** 0 picks a free port; read the chosen one from `address.port`. */
  port: number;
  /** Serve TLS only, offering ALPN h2 and http/1.1. */
  tls?: { cert: Buffer; key: Buffer };
}

export interface HttpListener {
  server: net.Server;
  address: { host: string; port: number };
  /**
   * Stops accepting, lets in-flight requests finish, and after `deadlineMs` destroys whatever
   * is still open, so a long-lived stream cannot hold shutdown hostage.
   */
  close(deadlineMs: number): Promise<void>;
}

const LISTEN_BACKLOG = 4096;

// Every HTTP/2 connection starts with these bytes (RFC 9113 §3.4); no HTTP/1 request can.
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

// A client that connects and says nothing must not hold a socket forever; real clients send
// their first bytes immediately.
const FIRST_BYTES_TIMEOUT_MS = 10_000;

/**
 * Serves gRPC, gRPC-Web and Connect over HTTP/1.1 and HTTP/2 on one port.
 *
 * Node's `http2.createServer({ allowHTTP1: true })` only downgrades on TLS (via ALPN); on
 * cleartext it answers HTTP/1.1 with an HTTP/2 SETTINGS frame. So one net/tls listener picks
 * the protocol per connection (preface on cleartext, ALPN on TLS) and hands the socket to a
 * plain http.Server or http2.Server that never listen themselves.
 */
export async function listen(handler: RequestHandler, options: ListenOptions): Promise<HttpListener> {
  const http1Server = http.createServer(handler);
  const http2Server = http2.createServer(handler);
  // http.Server only enforces headersTimeout/requestTimeout (slowloris) once it has seen
  // 'listening'; this one never listens, so start its connection checks by hand.
  http1Server.emit("listening");
  const connections = createConnectionTracker(http1Server, http2Server);

  const server = options.tls
    ? tls.createServer({ ...options.tls, ALPNProtocols: ["h2", "http/1.1"] })
    : net.createServer();
  server.on("connection", (socket: net.Socket) => connections.accepted(socket));
  if (options.tls) {
    server.on("secureConnection", (socket: tls.TLSSocket) => connections.handOff(socket, socket.alpnProtocol === "h2"));
  } else {
    server.on("connection", (socket: net.Socket) =>
      sniffHttp2Preface(socket, (isHttp2) => connections.handOff(socket, isHttp2)),
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // A deep accept queue: after a restart every runtime reconnects at once, and
    // connections the kernel drops are only retried after 1, 3, 7 s of SYN backoff.
    server.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { address, port } = server.address() as net.AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    address: { host: address, port },
    close: (deadlineMs) => (closing ??= connections.drain(server, deadlineMs)),
  };
}

/**
 * Reads just enough bytes to tell an HTTP/2 preface from an HTTP/1 request line, then puts
 * them back so the chosen server parses the stream from its first byte.
 */
function sniffHttp2Preface(socket: net.Socket, decided: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const giveUp = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const compared = Math.min(seen.length, HTTP2_PREFACE.length);
    const isHttp2 = seen.subarray(0, compared).equals(HTTP2_PREFACE.subarray(0, compared));
    if (isHttp2 && seen.length < HTTP2_PREFACE.length) return;
    socket.off("data", onData).off("error", giveUp).off("timeout", giveUp).setTimeout(0);
    socket.pause();
    socket.unshift(seen);
    decided(isHttp2);
  };
  socket.on("data", onData).on("error", giveUp).on("timeout", giveUp).setTimeout(FIRST_BYTES_TIMEOUT_MS);
}

function createConnectionTracker(http1Server: http.Server, http2Server: http2.Http2Server) {
  // Raw TCP sockets, including TLS handshakes in progress: the deadline destroys all of them.
  const accepted = new Set<net.Socket>();
  // HTTP/1 responses being written; an HTTP/1 connection carries one at a time.
  const responses = new Set<http.ServerResponse>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let draining = false;

  http2Server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (draining) session.close();
  });
  // Registered before the RPC handler so it sees the request first.
  http1Server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    responses.add(res);
    if (draining) askClientNotToReuse(res);
    res.once("close", () => {
      responses.delete(res);
      // Node keeps a busy keep-alive connection open after its response even once closing.
      if (draining) req.socket.end();
    });
  });

  return {
    accepted(socket: net.Socket): void {
      accepted.add(socket);
      socket.once("close", () => accepted.delete(socket));
    },

    handOff(socket: net.Socket, isHttp2: boolean): void {
      // A connection that finished its preface or TLS handshake after close() began.
      if (draining) {
        socket.destroy();
      } else if (isHttp2) {
        http2Server.emit("connection", socket);
      } else {
        http1Server.emit("connection", socket);
        // http's parser reads the socket's handle directly, so bytes put back with unshift()
        // only reach it once the JS stream flows again.
        socket.resume();
      }
    },

    async drain(server: net.Server, deadlineMs: number): Promise<void> {
      draining = true;
      // Resolves once every accepted socket has closed.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Ends idle keep-alive connections now; busy ones end after their response (above).
      http1Server.close();
      for (const res of responses) askClientNotToReuse(res);
      // GOAWAY: the client opens no new streams here; streams already open run to completion.
      for (const session of sessions) session.close();
      const deadline = setTimeout(() => {
        for (const session of sessions) session.destroy();
        for (const res of responses) res.destroy();
        for (const socket of accepted) socket.destroy();
      }, deadlineMs);
      await closed;
      clearTimeout(deadline);
    },
  };
}

/** Without it a keep-alive client may send its next request just as we close the socket. */
function askClientNotToReuse(res: http.ServerResponse): void {
  if (!res.headersSent) res.setHeader("connection", "close");
}
