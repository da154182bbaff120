"""The sync client against the stand-in server (in process and on a port) and scripted transports."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time

import httpx
import pytest
from starlette.testclient import TestClient

from specvlm_client import (APIConnectionError, APIError, APITimeoutError, AuthenticationError, BadRequestError,
                            ChatCompletion, Client, RateLimitError, ServerError, video_part)
from specvlm_client.client import UPLOAD_CHUNK_BYTES, retry_delay

from .conftest import ANSWER, API_KEY, MODEL, PIECES, envelope, user_message

COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": MODEL,
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


@pytest.fixture(params=["in-process", "live"])
def target(request, app):
    """(client, app): in process through Starlette's TestClient (an httpx.Client), or over a real socket."""
    if request.param == "in-process":
        with TestClient(app) as http:
            yield Client("http://testserver", API_KEY, http_client=http), app
    else:
        base_url, live_app = request.getfixturevalue("live")
        with Client(base_url, API_KEY) as client:
            yield client, live_app


def test_completion(target):
    client, app = target
    completion = client.chat.completions.create(MODEL, user_message(), max_tokens=16, return_token_ids=True,
                                                extra_body={"spec_decode": {"method": "naive"}})
    assert isinstance(completion, ChatCompletion)
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == ("assistant", ANSWER, "stop")
    assert choice.token_ids == [32, 8415, 11088, 27374, 13]
    assert "logprobs" in choice.raw  # fields without an attribute stay reachable
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 5)
    assert completion.metrics.speculative_decoding.mean_acceptance_length == 2.5
    assert completion.metrics.timing.decode_tokens_per_s == 40.0
    assert app.state.received == [{"messages": user_message(), "stream": False, "max_tokens": 16,
                                   "return_token_ids": True, "spec_decode": {"method": "naive"}, "model": MODEL}]


def test_stream(target):
    client, app = target
    with client.chat.completions.create(MODEL, user_message(), stream=True,
                                        stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:-2]] == PIECES
    assert chunks[-2].choices[0].finish_reason == "stop"
    final = chunks[-1]
    assert final.choices == [] and final.usage.total_tokens == 125
    assert final.metrics.speculative_decoding.mean_acceptance_length == 2.5
    assert app.state.received[0]["stream"] is True
    assert stream.response.is_closed


def test_error_mid_stream(target):
    client, _ = target
    received = []
    with pytest.raises(ServerError) as info:
        for chunk in client.chat.completions.create("fail-mid-stream", user_message(), stream=True):
            received.extend(choice.delta.content for choice in chunk.choices)
    assert "".join(received) == "A cat"
    assert (info.value.status_code, info.value.code, info.value.type) == (None, "internal_error", "server_error")


@pytest.mark.parametrize("stream", [False, True])
def test_wrong_key(target, stream):
    client, _ = target
    client.api_key = "wrong"
    with pytest.raises(AuthenticationError) as info:
        client.chat.completions.create(MODEL, user_message(), stream=stream)
    assert (info.value.status_code, info.value.code) == (401, "invalid_api_key")


def test_bad_request(target):
    client, _ = target
    with pytest.raises(BadRequestError) as info:
        client.chat.completions.create(MODEL, [])
    assert (info.value.status_code, info.value.param) == (400, "messages")
    assert str(info.value) == "[400 invalid_request] messages: field required"


def test_models(target):
    client, _ = target
    [model] = client.models.list()
    assert (model.id, model.max_model_len) == (MODEL, 4096)


def test_upload_progress_and_body(live, tmp_path):
    base_url, app = live
    video = bytes(range(256)) * 1000  # several upload chunks once base64-encoded
    (tmp_path / "clip.mp4").write_bytes(video)
    reports = []
    messages = [{"role": "user", "content": [video_part(tmp_path / "clip.mp4")]}]
    with Client(base_url + "/v1", API_KEY) as client:  # an openai-style base URL works too
        client.chat.completions.create(None, messages, upload_progress=lambda sent, total: reports.append((sent, total)))
    total = reports[-1][1]
    assert len(reports) == -(-total // UPLOAD_CHUNK_BYTES) > 1
    assert [sent for sent, _ in reports] == sorted(sent for sent, _ in reports) and reports[-1][0] == total
    url = app.state.received[0]["messages"][0]["content"][0]["video_url"]["url"]
    assert url.startswith("data:video/mp4;base64,") and base64.b64decode(url.split(",", 1)[1]) == video
    assert "model" not in app.state.received[0]


def test_connection_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens once the socket is closed
    with Client(f"http://127.0.0.1:{port}", max_retries=0) as client, pytest.raises(APIConnectionError):
        client.models.list()


# --- scripted transports: retries, timeouts, closing -------------------------------------------

def scripted(replies: list, **client_args) -> tuple[Client, list[httpx.Request]]:
    """A client whose transport answers with `replies` in turn (exceptions are raised), and its requests."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        reply = replies[len(requests) - 1]
        if isinstance(reply, Exception):
            raise reply
        return reply

    return Client("http://server", http_client=httpx.Client(transport=httpx.MockTransport(handler)),
                  **client_args), requests


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    delays: list[float] = []
    real_sleep, this_thread = time.sleep, threading.get_ident()

    def no_wait(seconds: float) -> None:
        # time.sleep is patched process-wide: other threads (test servers) must really sleep
        if threading.get_ident() != this_thread:
            return real_sleep(seconds)
        delays.append(seconds)

    monkeypatch.setattr("specvlm_client.client.time.sleep", no_wait)
    return delays


def busy(status: int = 429, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=envelope("server busy", "rate_limit_error", "queue_full"), headers=headers)


def test_retries_busy_answers_with_backoff(sleeps):
    client, requests = scripted([busy(429, **{"Retry-After": "0.25"}), busy(503), httpx.Response(200, json=COMPLETION)])
    assert client.chat.completions.create(MODEL, user_message()).choices[0].message.content == "ok"
    assert len(requests) == 3
    assert sleeps[0] == 0.25  # the server's Retry-After
    assert 0.75 <= sleeps[1] <= 1.0  # second retry: 1 s backoff, less jitter
    assert json.loads(requests[2].content) == json.loads(requests[0].content)


def test_gives_up_after_max_retries(sleeps):
    client, requests = scripted([busy()] * 3, max_retries=2)
    with pytest.raises(RateLimitError) as info:
        client.chat.completions.create(MODEL, user_message())
    assert len(requests) == 3 and len(sleeps) == 2 and info.value.code == "queue_full"


def test_retries_connection_errors(sleeps):
    client, requests = scripted([httpx.ConnectError("refused"), httpx.Response(200, json=COMPLETION)])
    assert client.chat.completions.create(MODEL, user_message()).choices[0].message.content == "ok"
    assert len(requests) == 2

    client, requests = scripted([httpx.ConnectError("refused")] * 2, max_retries=1)
    with pytest.raises(APIConnectionError, match="refused"):
        client.chat.completions.create(MODEL, user_message())
    assert len(requests) == 2


def test_streams_and_read_timeouts_are_not_retried(sleeps):
    client, requests = scripted([busy()])
    with pytest.raises(RateLimitError):
        client.chat.completions.create(MODEL, user_message(), stream=True)
    assert len(requests) == 1
    client, requests = scripted([httpx.ReadTimeout("slow")])
    with pytest.raises(APITimeoutError):
        client.chat.completions.create(MODEL, user_message())
    assert len(requests) == 1 and sleeps == []


def test_retry_delay_grows_and_is_capped():
    for attempt, longest in enumerate([0.5, 1.0, 2.0, 4.0]):
        assert 0.75 * longest <= retry_delay(attempt) <= longest
    assert 6.0 <= retry_delay(10) <= 8.0
    assert 6.0 <= retry_delay(10, busy(**{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) <= 8.0
    assert retry_delay(0, busy(**{"Retry-After": "3"})) == 3.0


@pytest.mark.parametrize("status, body, error", [
    (502, "<html>Bad Gateway</html>", ServerError),
    (413, "Request Entity Too Large", APIError),
])
def test_error_bodies_that_are_not_json(status, body, error):
    client, _ = scripted([httpx.Response(status, text=body)], max_retries=0)
    with pytest.raises(error) as info:
        client.chat.completions.create(MODEL, user_message())
    assert type(info.value) is error and info.value.message == body and info.value.status_code == status


class TrackedBody(httpx.SyncByteStream):
    def __init__(self) -> None:
        self.closed = False

    def __iter__(self):
        yield b'data: {"choices": [{"index": 0, "delta": {"content": "A"}}]}\n\n'
        yield b'data: {"choices": [{"index": 0, "delta": {"content": " cat"}}]}\n\n'

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("chunks_read", [0, 1])
def test_dropped_stream_closes_its_connection(chunks_read):
    body = TrackedBody()
    client, _ = scripted([httpx.Response(200, stream=body, headers={"content-type": "text/event-stream"})])
    stream = client.chat.completions.create(MODEL, user_message(), stream=True)
    for _ in range(chunks_read):
        next(stream)
    assert not body.closed
    del stream
    assert body.closed
