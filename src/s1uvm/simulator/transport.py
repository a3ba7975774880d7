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


class _Chunks(httpx2.SyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body

    def __iter__(self) -> Iterator[bytes]:
        for i in range(0, len(self.body), 64 * 1024):
            yield self.body[i : i + 64 * 1024]


class _EndlessStream(httpx2.SyncByteStream):
    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        padding = b" " * (64 * 1024)
        while True:
            yield padding


class _TrickleStream(httpx2.SyncByteStream):
    def __init__(self, body: bytes, every: float, sleep: bool) -> None:
        self.body, self.every, self.sleep = body, every, sleep

    def __iter__(self) -> Iterator[bytes]:
        for i in range(len(self.body)):
            yield self.body[i : i + 1]
            if self.sleep:
                time.sleep(self.every)


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
        if response.endless:
            return httpx2.Response(
                response.status, headers=response.headers, stream=_EndlessStream(response.body)
            )
        if response.trickle:
            stream = _TrickleStream(response.body, response.trickle, self.sleep)
            return httpx2.Response(response.status, headers=response.headers, stream=stream)
        if any(k == "content-encoding" for k, _ in response.headers):
            # As a stream: a body given as content is decoded at once (a gzip bomb whole).
            return httpx2.Response(
                response.status, headers=response.headers, stream=_Chunks(response.body)
            )
        return httpx2.Response(response.status, headers=response.headers, content=response.body)
