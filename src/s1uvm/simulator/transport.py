"""The console in-process, as an httpx2 transport: tests and benchmarks talk to it through a
real ``httpx2.Client`` without a socket. Faults surface as the exceptions a network would
raise (a dropped body → ``RemoteProtocolError``; a response slower than the client's read
timeout → ``ReadTimeout``)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2

from s1uvm.simulator.api import Console, Request


class _CutStream(httpx2.SyncByteStream):
    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        raise httpx2.RemoteProtocolError("peer closed connection without sending complete body")


class ConsoleTransport(httpx2.BaseTransport):
    def __init__(self, console: Console, sleep: bool = True) -> None:
        self.console = console
        self.sleep = sleep

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        req = Request(
            method=request.method,
            path=request.url.path,
            query=list(request.url.params.multi_items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=request.read(),
        )
        response = self.console.handle(req)
        if response.delay:
            timeout = (request.extensions.get("timeout") or {}).get("read")
            if timeout is not None and response.delay > timeout:
                if self.sleep:
                    time.sleep(timeout)
                raise httpx2.ReadTimeout("read timed out (injected delay)", request=request)
            if self.sleep:
                time.sleep(response.delay)
        if response.cut_at is not None:
            return httpx2.Response(
                response.status,
                headers=response.headers,
                stream=_CutStream(response.body[: response.cut_at]),
            )
        return httpx2.Response(response.status, headers=response.headers, content=response.body)
