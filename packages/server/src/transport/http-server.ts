import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import type { connectNodeAdapter } from "@connectrpc/connect-node";

/** What one peer may hold of the server before it has proved who it is. */
export interface TransportLimits {
  /** Largest request message, in bytes; request compression is refused, so this is also its decoded size. */
  maxMessageBytes: number;
  /** A request's body must have arrived this long after its headers. */
  bodyTimeoutMs: number;
  /** An HTTP/1.1 request's headers, a TLS handshake and a connection's first bytes must arrive within this. */
  headersTimeoutMs: number;
  /** A connection with no request in flight (HTTP/2: no open stream) is closed after this long. */
  idleTimeoutMs: number;
  /** HTTP/2 streams one connection may have open at once. */
  maxStreamsPerConnection: number;
  /** nghttp2's per-connection buffer budget, in MiB; past it new streams are refused. */
  maxSessionMemoryMiB: number;
  /** Open connections from one peer address; more are closed as they arrive. */
  maxConnectionsPerAddress: number;
}

/** What connectNodeAdapter returns; it serves both http and http2 requests. */
export type RequestHandler = ReturnType<typeof connectNodeAdapter>;

export interface ListenOptions {
  host: string;
  /** 0 picks a free port; read the chosen one from `address.port`. */
  port: number;
  /** Serve TLS only, offering ALPN h2 and http/1.1. */
  tls?: { cert: Buffer; key: Buffer };
  /** What one connection, and one peer address, may hold (config.ts documents each). */
  limits: ConnectionLimits;
}

export type ConnectionLimits = Omit<TransportLimits, "maxMessageBytes">;

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

/**
 * Serves gRPC, gRPC-Web and Connect over HTTP/1.1 and HTTP/2 on one port.
 *
 * Node's `http2.createServer({ allowHTTP1: true })` only downgrades on TLS (via ALPN); on
 * cleartext it answers HTTP/1.1 with an HTTP/2 SETTINGS frame. So one net/tls listener picks
 * the protocol per connection (preface on cleartext, ALPN on TLS) and hands the socket to a
 * plain http.Server or http2.Server that never listen themselves.
 */
export async function listen(handler: RequestHandler, options: ListenOptions): Promise<HttpListener> {
  const { limits } = options;
  const http1Server = http.createServer(
    {
      // Slowloris: a request's headers, and then the whole request, must arrive in time.
      // The request handler answers a late body with a typed error first (request-body-guard.ts);
      // this cuts the connection of a client that will not stop.
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.headersTimeoutMs + limits.bodyTimeoutMs,
      keepAliveTimeout: limits.idleTimeoutMs,
      // How often those two deadlines are checked: a tenth of the shorter, within 50 ms to 1 s.
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(limits.headersTimeoutMs / 10))),
    },
    handler,
  );
  const http2Server = http2.createServer(
    {
      // Past this many open streams a connection's next one is refused (REFUSED_STREAM).
      settings: { maxConcurrentStreams: limits.maxStreamsPerConnection },
      maxSessionMemory: limits.maxSessionMemoryMiB,
    },
    handler,
  );
  // http.Server only enforces headersTimeout/requestTimeout (slowloris) once it has seen
  // 'listening'; this one never listens, so start its connection checks by hand.
  http1Server.emit("listening");
  const connections = createConnectionTracker(http1Server, http2Server, limits);

  const server = options.tls
    ? tls.createServer({ ...options.tls, ALPNProtocols: ["h2", "http/1.1"], handshakeTimeout: limits.headersTimeoutMs })
    : net.createServer();
  // Registered first: a connection over the per-address cap goes no further.
  server.on("connection", (socket: net.Socket) => connections.accepted(socket));
  if (options.tls) {
    server.on("secureConnection", (socket: tls.TLSSocket) => connections.handOff(socket, socket.alpnProtocol === "h2"));
  } else {
    server.on("connection", (socket: net.Socket) => {
      if (!socket.destroyed)
        sniffHttp2Preface(socket, limits.headersTimeoutMs, (isHttp2) => connections.handOff(socket, isHttp2));
    });
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
function sniffHttp2Preface(socket: net.Socket, timeoutMs: number, decided: (isHttp2: boolean) => void): void {
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
  // A client that connects and says nothing must not hold a socket; real clients speak first at once.
  socket.on("data", onData).on("error", giveUp).on("timeout", giveUp).setTimeout(timeoutMs);
}

function createConnectionTracker(http1Server: http.Server, http2Server: http2.Http2Server, limits: ConnectionLimits) {
  // Raw TCP sockets, including TLS handshakes in progress: the deadline destroys all of them.
  const accepted = new Set<net.Socket>();
  const perAddress = new Map<string, number>();
  // HTTP/1 responses being written; an HTTP/1 connection carries one at a time.
  const responses = new Set<http.ServerResponse>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let draining = false;

  http2Server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    if (draining) session.close();
    else closeWhenIdle(session, limits.idleTimeoutMs);
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
      // One peer must not exhaust the server's sockets before a single credential is checked.
      const address = socket.remoteAddress ?? "unknown";
      const open = perAddress.get(address) ?? 0;
      if (open >= limits.maxConnectionsPerAddress) {
        socket.destroy();
        return;
      }
      perAddress.set(address, open + 1);
      accepted.add(socket);
      socket.once("close", () => {
        accepted.delete(socket);
        const left = perAddress.get(address)! - 1;
        if (left > 0) perAddress.set(address, left);
        else perAddress.delete(address);
      });
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

/**
 * Closes (GOAWAY) a session that has had no open stream for `idleMs`. Counting streams, not
 * frames: a client's PINGs do not keep an unused connection, and an open Watch (with its
 * heartbeats) is never idle however quiet it is.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), idleMs);
  };
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) arm();
    });
  });
  session.once("close", () => clearTimeout(timer));
  arm();
}

/** Without it a keep-alive client may send its next request just as we close the socket. */
function askClientNotToReuse(res: http.ServerResponse): void {
  if (!res.headersSent) res.setHeader("connection", "close");
}
