"""Request body size limit as pure ASGI middleware: 413 problem+json before the application reads anything."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.rest.problems import PROBLEM_MEDIA_TYPE, problem_body


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with a 413 problem.

    A declared Content-Length over the limit is refused at once. Otherwise the body is read (and counted)
    before the application runs, so a chunked or lying client is cut off at the limit, and the application
    then sees the buffered body followed by the live receive channel (disconnects still reach SSE routes).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        buffered: list[Message] = []
        size, more = 0, True
        while more:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(send)
                return
            more = message.get("more_body", False)
        await self.app(scope, _replay(buffered, receive), send)

    async def _refuse(self, send: Send) -> None:
        body = problem_body(413, f"the request body exceeds the limit of {self.max_bytes} bytes", kind="too-large")
        payload = json.dumps(body).encode()
        headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": [*headers, (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
