"""Thin route handlers: parse, prepare inputs, submit, format."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator

import torch
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ..engine.core import Delta, EngineStoppedError, Failed, Finished, QueueFullError, RequestTimeoutError, Stream
from ..inputs import build_inputs
from . import protocol, sse
from .errors import APIError
from .prompt import build_prompt
from .protocol import ChatCompletionRequest
from .service import Service

router = APIRouter()

# How often a non-streaming request checks whether its client is still there.
_DISCONNECT_POLL_S = 0.5


def service(request: Request) -> Service:
    return request.app.state.service


def authorize(request: Request) -> None:
    key = service(request).settings.api_key
    if key and request.headers.get("authorization") != f"Bearer {key}":
        raise APIError(401, "invalid or missing API key", type="authentication_error", code="invalid_api_key")


def _engine_error(exc: Exception) -> APIError:
    if isinstance(exc, torch.OutOfMemoryError):
        return APIError(503, "the device ran out of memory for this request; retry later, or send fewer frames, "
                             "a smaller max_pixels or a smaller max_tokens", type="server_error", code="out_of_memory")
    if isinstance(exc, RequestTimeoutError):
        return APIError(504, str(exc), type="timeout_error", code="request_timeout")
    if isinstance(exc, EngineStoppedError):
        return APIError(503, str(exc), type="server_error", code="unavailable")
    return APIError(500, f"generation failed: {exc}", type="server_error", code="internal_error")


@router.get("/health")
async def health(request: Request) -> Response:
    svc = service(request)
    if svc.ready:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": svc.status}, status_code=503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return PlainTextResponse(service(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/models", dependencies=[Depends(authorize)])
async def models(request: Request) -> dict:
    svc = service(request)
    return {"object": "list", "data": [{"id": svc.model_name, "object": "model", "created": svc.created,
                                        "owned_by": "specvlm", "max_model_len": svc.max_model_len}]}


@router.post("/v1/chat/completions", dependencies=[Depends(authorize)])
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    svc = service(request)
    svc.require_ready()
    if body.model is not None and body.model != svc.model_name:
        raise APIError(404, f"model {body.model!r} does not exist; this server serves {svc.model_name!r}",
                       code="model_not_found", param="model")
    started = time.perf_counter()
    prompt = await build_prompt(body, body.video_sampling(svc.settings), svc.fetch_policy, svc.http)
    inputs = await svc.process(build_inputs, prompt, body.pixel_limits(svc.settings))
    video_decode_s = time.perf_counter() - started
    if prompt.videos or prompt.images:
        svc.metrics.video_decode.observe(video_decode_s)
    params = body.decoding_params(svc.settings, int(inputs["input_ids"].shape[1]), svc.max_model_len,
                                  svc.pair.default_repetition_penalty)
    if params.speculative and svc.pair.draft is None:
        raise APIError(400, "this server has no draft model; use spec_decode.method 'off'",
                       code="no_draft_model", param="spec_decode")
    try:
        stream = await svc.engine.submit(inputs, params, body.stop, await svc.prefix_key(inputs))
    except QueueFullError as exc:
        raise APIError(429, f"server busy: {exc}", type="rate_limit_error", code="queue_full") from None
    except EngineStoppedError as exc:
        raise _engine_error(exc) from None
    reply = _Reply(body, svc.model_name, svc.pair.tokenizer, video_decode_s)
    if body.stream:
        return StreamingResponse(reply.sse(stream, svc.settings.keepalive_interval), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return await reply.json(stream, request)


class _Reply:
    """Formats one request's engine events as a chat.completion or a chunk stream."""

    def __init__(self, body: ChatCompletionRequest, model: str, tokenizer, video_decode_s: float):
        self.body = body
        self.model = model
        self.tokenizer = tokenizer
        self.video_decode_s = video_decode_s
        self.id = protocol.completion_id()
        self.created = protocol.now()

    def _metrics(self, done: Finished) -> dict:
        return protocol.metrics(done.stats, done.queue_s, self.video_decode_s, done.ttft_s)

    async def json(self, stream: Stream, request: Request) -> Response:
        text, token_ids, logprobs = [], [], []
        try:
            while True:
                event = await stream.next_event(_DISCONNECT_POLL_S)
                if event is None:
                    if await request.is_disconnected():
                        stream.cancel()
                        return Response(status_code=499)
                elif isinstance(event, Delta):
                    text.append(event.text)
                    token_ids.extend(event.token_ids)
                    logprobs.extend(event.logprobs or ())
                elif isinstance(event, Failed):
                    raise _engine_error(event.error)
                else:
                    break
        finally:
            if not stream.done:
                stream.cancel()
        choice = {"index": 0, "message": {"role": "assistant", "content": "".join(text)},
                  "logprobs": protocol.logprobs(self.tokenizer, logprobs) if self.body.logprobs else None,
                  "finish_reason": event.finish_reason}
        if self.body.return_token_ids:
            choice["token_ids"] = token_ids
        return JSONResponse({
            "id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
            "choices": [choice], "usage": protocol.usage(event.stats), "metrics": self._metrics(event),
        })

    async def sse(self, stream: Stream, keepalive_s: float) -> AsyncIterator[str]:
        with_ids = self.body.return_token_ids
        yield sse.event(protocol.chunk(self.id, self.model, self.created, {"role": "assistant", "content": ""}))
        try:
            while True:
                event = await stream.next_event(keepalive_s)
                if event is None:  # still in prefill or queued: keep proxies from closing the connection
                    yield sse.KEEPALIVE
                elif isinstance(event, Delta):
                    if event.text or event.logprobs or (with_ids and event.token_ids):
                        logprobs = protocol.logprobs(self.tokenizer, event.logprobs) if event.logprobs else None
                        yield sse.event(protocol.chunk(self.id, self.model, self.created, {"content": event.text},
                                                       token_ids=event.token_ids if with_ids else None,
                                                       logprobs=logprobs))
                elif isinstance(event, Failed):
                    yield sse.event(_engine_error(event.error).body())
                    yield sse.DONE
                    return
                else:
                    yield sse.event(protocol.chunk(self.id, self.model, self.created, {}, event.finish_reason))
                    if self.body.include_usage:
                        yield sse.event({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                         "model": self.model, "choices": [], "usage": protocol.usage(event.stats),
                                         "metrics": self._metrics(event)})
                    yield sse.DONE
                    return
        finally:  # also runs when the client disconnects mid-stream
            if not stream.done:
                stream.cancel()
