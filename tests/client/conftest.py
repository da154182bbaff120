"""A stand-in for the specvlm server that answers in API.md's shapes, in process or on a real port.

The client package must not depend on the server, so these tests drive it against this small
Starlette app; model "fail-mid-stream" makes a stream break off with an error event.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

API_KEY = "test-key"
MODEL = "specvlm-test"
PIECES = ["A", " cat", " plays", " piano", "."]
ANSWER = "".join(PIECES)
TOKEN_IDS = [[32], [8415], [11088], [27374], [13]]
USAGE = {"prompt_tokens": 120, "completion_tokens": 5, "total_tokens": 125}
METRICS = {
    "speculative_decoding": {"method": "specvlm", "num_drafts": 2, "num_draft_tokens": 8, "num_accepted_tokens": 3,
                             "mean_acceptance_length": 2.5, "video_tokens": 96, "draft_video_tokens": 24},
    "timing": {"queue_s": 0.0, "video_decode_s": 0.01, "prefill_s": 0.02, "ttft_s": 0.03, "decode_s": 0.1,
               "decode_tokens_per_s": 40.0},
}


def envelope(message: str, type: str, code: str, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def sse(payload: dict) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def chunk(delta: dict, finish_reason: str | None = None, token_ids: list[int] | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    if token_ids is not None:
        choice["token_ids"] = token_ids
    return {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [choice]}


async def stream_events(body: dict):
    with_ids = body.get("return_token_ids", False)
    yield ": keep-alive\n\n"  # as during a long prefill
    await asyncio.sleep(0.01)
    yield sse(chunk({"role": "assistant", "content": ""}))
    for i, (piece, ids) in enumerate(zip(PIECES, TOKEN_IDS)):
        if body.get("model") == "fail-mid-stream" and i == 2:
            yield sse(envelope("generation failed: worker died", "server_error", "internal_error"))
            yield "data: [DONE]\n\n"
            return
        yield sse(chunk({"content": piece}, token_ids=ids if with_ids else None))
        yield ": keep-alive\n\n"
    yield sse(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        yield sse({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                   "choices": [], "usage": USAGE, "metrics": METRICS})
    yield "data: [DONE]\n\n"


def make_app() -> Starlette:
    received: list[dict] = []  # request bodies, for tests to inspect

    def unauthorized(request: Request) -> JSONResponse | None:
        if request.headers.get("authorization") != f"Bearer {API_KEY}":
            return JSONResponse(envelope("invalid or missing API key", "authentication_error", "invalid_api_key"), 401)
        return None

    async def chat(request: Request):
        if refusal := unauthorized(request):
            return refusal
        body = await request.json()
        received.append(body)
        if not body.get("messages"):
            return JSONResponse(envelope("messages: field required", "invalid_request_error", "invalid_request",
                                         "messages"), 400)
        if body.get("stream"):
            return StreamingResponse(stream_events(body), media_type="text/event-stream")
        choice = {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "logprobs": None,
                  "finish_reason": "stop"}
        if body.get("return_token_ids"):
            choice["token_ids"] = [t for ids in TOKEN_IDS for t in ids]
        return JSONResponse({"id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": MODEL,
                             "choices": [choice], "usage": USAGE, "metrics": METRICS})

    async def models(request: Request):
        if refusal := unauthorized(request):
            return refusal
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 1,
                                                          "owned_by": "specvlm", "max_model_len": 4096}]})

    app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]), Route("/v1/models", models)])
    app.state.received = received
    return app


@pytest.fixture
def app() -> Starlette:
    return make_app()


@pytest.fixture(scope="session")
def live_server():
    """(base URL, app) of the stand-in served by uvicorn on a free local port."""
    app = make_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", app
    server.should_exit = True
    thread.join(timeout=5)
    sock.close()


@pytest.fixture
def live(live_server):
    """The live server with its record of request bodies emptied."""
    base_url, app = live_server
    app.state.received.clear()
    return base_url, app


def user_message(text: str = "what happens?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "text", "text": text}]}]
