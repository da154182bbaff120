"""Iterators over a chat completion stream; each holds the HTTP response open until it ends.

Use them in a `with` / `async with` block, or exhaust them; a stream that is dropped
half-read closes its connection too (when garbage-collected), so the server stops generating.
"""

from __future__ import annotations

import asyncio
import json
from typing import AsyncGenerator, AsyncIterator, Generator, Iterator

import httpx

from .errors import APIError, connection_error, error_from_body
from .sse import ServerSentEvent, aiter_sse, iter_sse
from .types import ChatCompletionChunk

# Closing tasks of dropped async streams, referenced so that they run to the end.
_closing: set[asyncio.Task[None]] = set()


def _chunk_or_raise(event: ServerSentEvent) -> ChatCompletionChunk:
    try:
        payload = json.loads(event.data)
    except ValueError:
        raise APIError(f"malformed stream event: {event.data[:200]!r}") from None
    if isinstance(payload, dict) and "error" in payload:
        raise error_from_body(payload, status_code=None)
    return ChatCompletionChunk.from_dict(payload)


def _is_done(event: ServerSentEvent) -> bool:
    return event.data == "[DONE]"


# The generators take the response, not the stream object, so that no reference cycle keeps
# a dropped stream alive: it is then closed as soon as its last reference goes.
def _chunks(response: httpx.Response) -> Generator[ChatCompletionChunk, None, None]:
    try:
        for event in iter_sse(response.iter_bytes()):
            if event.event != "message":
                continue
            if _is_done(event):
                return
            yield _chunk_or_raise(event)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    finally:
        response.close()


async def _achunks(response: httpx.Response) -> AsyncGenerator[ChatCompletionChunk, None]:
    try:
        async for event in aiter_sse(response.aiter_bytes()):
            if event.event != "message":
                continue
            if _is_done(event):
                return
            yield _chunk_or_raise(event)
    except httpx.TransportError as exc:
        raise connection_error(exc) from exc
    finally:
        await response.aclose()


async def _aclose(iterator: AsyncGenerator[ChatCompletionChunk, None], response: httpx.Response) -> None:
    await iterator.aclose()
    await response.aclose()  # the iterator's own cleanup does not run if it never started


class Stream:
    """`for chunk in stream` yields ChatCompletionChunk until `data: [DONE]`."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self._iterator = _chunks(response)

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()
        self.response.close()  # the iterator's own cleanup does not run if it never started

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class AsyncStream:
    """`async for chunk in stream` yields ChatCompletionChunk until `data: [DONE]`."""

    def __init__(self, response: httpx.Response):
        self.response = response
        self._iterator = _achunks(response)

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await _aclose(self._iterator, self.response)

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Closing needs the event loop; schedule it there if the loop still runs.
        if self.response.is_closed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(_aclose(self._iterator, self.response))
        _closing.add(task)
        task.add_done_callback(_closing.discard)
