"""Serving the console over real HTTP(S) on loopback with uvicorn, in the foreground (the
``simulator serve`` command) or on a background thread (tests, the demo, benchmarks)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from s1uvm.simulator.api import Console
from s1uvm.simulator.asgi import ConsoleApp, DropConnection


class TLSUnavailable(RuntimeError):
    pass


class _QuietDrops(logging.Filter):
    """A dropped connection is an injected fault, not a server error worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


@dataclass(slots=True)
class TLSFiles:
    directory: Path
    ca_bundle: Path
    cert_chain: Path
    key: Path


def make_tls(host: str) -> TLSFiles:
    """A throw-away CA and a server certificate for ``host``, written to a private folder."""
    try:
        import trustme
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise TLSUnavailable("--tls needs the 'tls' extra: pip install 's1uvm[tls]'") from exc
    ca = trustme.CA()
    names = sorted({host, "localhost", "127.0.0.1", "::1"})
    cert = ca.issue_cert(*names)
    directory = Path(tempfile.mkdtemp(prefix="s1uvm-sim-tls-"))
    os.chmod(directory, 0o700)
    files = TLSFiles(
        directory, directory / "ca.pem", directory / "server.pem", directory / "server.key"
    )
    ca.cert_pem.write_to_path(str(files.ca_bundle))
    cert.private_key_pem.write_to_path(str(files.key))
    with open(files.cert_chain, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    for p in (files.ca_bundle, files.key, files.cert_chain):
        os.chmod(p, 0o600)
    return files


class SimulatorServer:
    """A uvicorn server for one console on a pre-bound socket (port 0 → a free port)."""

    def __init__(
        self, console: Console, host: str = "127.0.0.1", port: int = 0, tls: bool = False
    ) -> None:
        self.console = console
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        # Listen now: clients that read the banner may connect before uvicorn is running;
        # their connections wait in the backlog instead of being refused.
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.tls = make_tls(host) if tls else None
        kwargs: dict[str, Any] = {}
        if self.tls:
            kwargs = {"ssl_certfile": str(self.tls.cert_chain), "ssl_keyfile": str(self.tls.key)}
        config = uvicorn.Config(
            ConsoleApp(console),
            log_level="warning",
            access_log=False,
            lifespan="off",
            date_header=False,
            server_header=False,
            timeout_keep_alive=30,
            **kwargs,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        return str(self.tls.ca_bundle) if self.tls else None

    def banner(self) -> dict[str, Any]:
        """The first stdout line of ``simulator serve`` (design.md)."""
        out: dict[str, Any] = {"url": self.url, "token": self.console.token}
        if self.tls:
            out["ca_bundle"] = self.ca_bundle
        return out

    def run(self) -> None:
        """Serve in the foreground until interrupted."""
        self.server.run(sockets=[self.sock])

    def start(self) -> SimulatorServer:
        """Serve on a daemon thread; returns once the socket accepts connections."""
        ready = threading.Event()

        def target() -> None:
            asyncio.run(self._serve(ready))

        self._thread = threading.Thread(target=target, name="s1uvm-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the simulator did not start within 10 s")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        config = self.server.config
        if not config.loaded:
            config.load()
        self.server.lifespan = config.lifespan_class(config)
        await self.server.startup(sockets=[self.sock])
        ready.set()
        await self.server.main_loop()
        await self.server.shutdown(sockets=[self.sock])

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
