"""The console as a raw ASGI application, served over real HTTP(S) by uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from s1uvm.simulator.api import Console, Request, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


ENDLESS_CHUNK = 64 * 1024


async def _hostile_body(response: Response, send: Send, gone: asyncio.Future[Message]) -> None:
    if response.trickle:
        for i in range(len(response.body)):
            chunk = response.body[i : i + 1]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await asyncio.sleep(response.trickle)
            if gone.done():
                return
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.body", "body": response.body, "more_body": True})
    padding = b" " * ENDLESS_CHUNK
    while not gone.done():
        await send({"type": "http.response.body", "body": padding, "more_body": True})
        await asyncio.sleep(0)


class DropConnection(Exception):
    """Raised mid-body so the server closes the connection, as a dropped link would."""


class ConsoleApp:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        request = Request(
            method=scope["method"],
            path=scope["path"],
            query=parse_qsl(
                scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True
            ),
            headers={
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in scope.get("headers", [])
            },
            body=body,
        )
        # Page generation is CPU work: run it off the event loop so slow and delayed
        # responses of other requests keep flowing.
        response = await asyncio.to_thread(self.console.handle, request)
        if response.delay:
            await asyncio.sleep(response.delay)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
        if not response.endless:  # without a length the body is chunked: it may never end
            headers.append((b"content-length", str(len(response.body)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if response.trickle or response.endless:
            # Until the client goes away: the server then drops what is sent, silently.
            gone = asyncio.ensure_future(receive())
            try:
                await _hostile_body(response, send, gone)
            finally:
                gone.cancel()
            return
        if response.cut_at is not None:
            await send(
                {
                    "type": "http.response.body",
                    "body": response.body[: response.cut_at],
                    "more_body": True,
                }
            )
            raise DropConnection("connection dropped mid-body (injected fault)")
        await send({"type": "http.response.body", "body": response.body})
