"""The async client: in process through httpx.ASGITransport, over a real socket, and scripted."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from specvlm_client import AsyncClient, AsyncStream, AuthenticationError, ChatCompletion, RateLimitError, ServerError

from .conftest import ANSWER, API_KEY, MODEL, PIECES, envelope, user_message


def in_process(app) -> AsyncClient:
    return AsyncClient("http://testserver", API_KEY,
                       http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app=app)))


@pytest.fixture(params=["in-process", "live"])
def make_client(request, app):
    """(factory of an AsyncClient, app): the client is made inside the test's event loop."""
    if request.param == "in-process":
        return (lambda: in_process(app)), app
    base_url, live_app = request.getfixturevalue("live")
    return (lambda: AsyncClient(base_url, API_KEY)), live_app


def test_completion_and_stream(make_client):
    factory, app = make_client

    async def scenario():
        async with factory() as client:
            completion = await client.chat.completions.create(MODEL, user_message(), max_tokens=8)
            stream = await client.chat.completions.create(MODEL, user_message(), stream=True,
                                                          stream_options={"include_usage": True})
            assert isinstance(stream, AsyncStream)
            async with stream:
                chunks = [chunk async for chunk in stream]
            return completion, chunks

    completion, chunks = asyncio.run(scenario())
    assert isinstance(completion, ChatCompletion) and completion.choices[0].message.content == ANSWER
    assert [c.choices[0].delta.content for c in chunks[1:-2]] == PIECES
    assert chunks[-1].choices == [] and chunks[-1].metrics.timing.ttft_s == 0.03
    assert [body["stream"] for body in app.state.received] == [False, True]


def test_error_mid_stream(make_client):
    factory, _ = make_client

    async def scenario():
        received = []
        async with factory() as client:
            with pytest.raises(ServerError) as info:
                async for chunk in await client.chat.completions.create("fail-mid-stream", user_message(),
                                                                        stream=True):
                    received.extend(choice.delta.content for choice in chunk.choices)
        return received, info.value

    received, error = asyncio.run(scenario())
    assert "".join(received) == "A cat" and error.code == "internal_error"


def test_wrong_key(make_client):
    factory, _ = make_client

    async def scenario():
        async with factory() as client:
            client.api_key = "wrong"
            with pytest.raises(AuthenticationError):
                await client.chat.completions.create(MODEL, user_message(), stream=True)
            with pytest.raises(AuthenticationError):
                await client.models.list()

    asyncio.run(scenario())


def test_retries_with_async_sleep(monkeypatch):
    delays: list[float] = []
    real_sleep, this_thread = asyncio.sleep, threading.get_ident()

    async def no_wait(seconds: float) -> None:
        # asyncio.sleep is patched process-wide: event loops in other threads (a test server)
        # must keep sleeping for real
        if threading.get_ident() != this_thread:
            return await real_sleep(seconds)
        delays.append(seconds)

    monkeypatch.setattr("specvlm_client.client.asyncio.sleep", no_wait)
    replies = [httpx.ConnectError("refused"),
               httpx.Response(503, json=envelope("not ready", "server_error", "unavailable"), headers={"Retry-After": "0"}),
               httpx.Response(429, json=envelope("busy", "rate_limit_error", "queue_full"))]

    async def handler(request: httpx.Request) -> httpx.Response:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def scenario():
        async with AsyncClient("http://server", max_retries=2,
                               http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler))) as client:
            await client.chat.completions.create(MODEL, user_message())

    with pytest.raises(RateLimitError):
        asyncio.run(scenario())
    assert replies == [] and len(delays) == 2 and delays[1] == 0.0


class TrackedBody(httpx.AsyncByteStream):
    def __init__(self) -> None:
        self.closed = False

    async def __aiter__(self):
        for piece in PIECES:
            yield f'data: {{"choices": [{{"index": 0, "delta": {{"content": "{piece}"}}}}]}}\n\n'.encode()

    async def aclose(self) -> None:
        self.closed = True


@pytest.mark.parametrize("chunks_read", [0, 2])
def test_dropped_stream_closes_its_connection(chunks_read):
    body = TrackedBody()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, stream=body))

    async def scenario():
        async with AsyncClient("http://server", http_client=httpx.AsyncClient(transport=transport)) as client:
            stream = await client.chat.completions.create(MODEL, user_message(), stream=True)
            for _ in range(chunks_read):
                await stream.__anext__()
            assert not body.closed
            del stream
            for _ in range(3):  # the close runs as a task on this loop
                await asyncio.sleep(0)
            return body.closed

    assert asyncio.run(scenario())
