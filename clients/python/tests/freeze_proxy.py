"""A loopback TCP proxy that can go silent: the connections open at freeze() stop carrying bytes either way
(nothing closed, nothing reset), as a half-open connection or a balancer that lost its backend looks to a
client. Connections opened later are carried normally."""

from __future__ import annotations

import socket
import threading


class FreezeProxy:
    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: list[threading.Event] = []  # one "frozen" flag per connection
        self._closed = threading.Event()
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        """Silences every connection open now."""
        with self._lock:
            for frozen in self._open:
                frozen.set()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            frozen = threading.Event()
            with self._lock:
                self._open.append(frozen)
                self.accepted += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink, frozen), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, frozen: threading.Event) -> None:
        try:
            while not self._closed.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if frozen.is_set():
                    continue  # swallowed: the peer hears nothing, and nothing tells it why
                sink.sendall(data)
        except OSError:
            pass
        finally:
            if not frozen.is_set():
                for s in (source, sink):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
