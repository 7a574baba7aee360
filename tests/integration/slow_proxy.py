"""A TCP proxy on loopback for fault tests: it delays every chunk it forwards (a slow Unleash), and can cut
every connection and refuse new ones for a while (a database restarting)."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit


class SlowProxy:
    """Forwards 127.0.0.1:<port> to the upstream URL's host and port, holding each chunk `delay` seconds
    (changeable while it runs). Bounded: it stops with `close()`, and its threads are daemons."""

    def __init__(self, upstream_url: str, *, delay: float):
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        assert self.upstream[0] in ("127.0.0.1", "localhost", "::1"), "fault tests stay on loopback"
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._refusing = threading.Event()
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until `resume()`: the server went away."""
        self._refusing.set()
        with self._lock:
            for end in self._open:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open.clear()

    def resume(self) -> None:
        self._refusing.clear()

    def url_for(self, upstream_url: str) -> str:
        parts = urlsplit(upstream_url)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._refusing.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                chunk = source.recv(65536)
                if not chunk:
                    break
                time.sleep(self.delay)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
