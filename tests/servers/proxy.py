"""A TCP proxy on loopback that can hold new connections, for failure drills."""

from __future__ import annotations

import socket
import threading

from .net import LOOPBACK


class HoldingProxy:
    """Forwards to `upstream`; while `hold` is set, new connections get no answer at all.

    A client that connects while held waits for a greeting that never comes, so
    a test can kill it at a known point: after it started, before any data left.
    """

    def __init__(self, upstream_port: int, upstream_host: str = LOOPBACK) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.hold = False
        # When set too, connections already open are held as well: what their clients
        # send next is swallowed, unanswered (a worker reusing a kept SMTP session).
        self.hold_open = False
        # When set, a connection is cut the moment the client sends these bytes
        # (say b"FETCH"): the command is on its way and its answer never comes.
        self.cut_on: bytes | None = None
        self.cuts = 0
        self._held: list[socket.socket] = []
        self._open: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def held_count(self) -> int:
        with self._lock:
            return len(self._held)

    def release(self) -> None:
        """Stop holding, and hang up on every connection that was held."""
        with self._lock:
            self.hold = self.hold_open = False
            held, self._held = self._held, []
        for conn in held:
            conn.close()

    def hang_up(self) -> None:
        """Close every connection passed through so far, as a server dropping idle clients."""
        with self._lock:
            pairs, self._open = self._open, []
        for client, server in pairs:
            _close_both(client, server)

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self.release()
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _address = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self.hold:
                    self._held.append(client)
                    continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open.append((client, server))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if from_client and self.hold_open:
                    with self._lock:
                        if source not in self._held:
                            self._held.append(source)
                    continue
                if from_client and self.cut_on is not None and self.cut_on in chunk:
                    with self._lock:
                        self.cuts += 1
                    break
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _close_both(source, sink)


def _close_both(source: socket.socket, sink: socket.socket) -> None:
    # Closing both ends makes the opposite pump stop as well.
    for end in (source, sink):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        end.close()
