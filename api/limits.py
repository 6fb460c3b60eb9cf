"""A cap on request bodies (`--max-body-mb`), for the API and the page's uploads alike: a body announced as larger is
refused before it is read, and one that grows past the cap while it streams in is cut off, with a 413 naming the
cap."""
from __future__ import annotations

import json


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Pure ASGI middleware: `app = BodyLimit(app, max_bytes)`."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self.refuse(send)
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except BodyTooLarge:
            await self.refuse(send)

    async def refuse(self, send) -> None:
        detail = f"the request body is larger than this server's limit of {self.max_bytes // (1024 * 1024)} MB"
        body = json.dumps({"error": "PayloadTooLarge", "detail": detail, "body": "", "errors": detail}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
