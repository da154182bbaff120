"""Our own client SDK against the real app, in process."""

import asyncio

import httpx
import pytest
from fastapi.testclient import TestClient

from specvlm.api.app import create_app
from specvlm.config import Settings
from specvlm.media.synthetic import encode_video, synthetic_frames
from specvlm_client import APIError, AsyncClient, BadRequestError, Client, video_part

from .conftest import wait_ready

QUESTION = "what is the dog doing?"


@pytest.fixture(scope="module")
def video():
    return video_part(encode_video(synthetic_frames(0, 16)), mime="video/mp4")


def _messages(video):
    return [{"role": "user", "content": [video, {"type": "text", "text": QUESTION}]}]


def test_sync_client_json_and_stream_agree(client, video):
    sdk = Client("http://testserver", http_client=client)
    whole = sdk.chat.completions.create(None, _messages(video), max_tokens=20)
    assert whole.choices[0].message.content
    assert whole.metrics.speculative_decoding.method == "specvlm"
    with sdk.chat.completions.create(None, _messages(video), max_tokens=20, stream=True,
                                     stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    with pytest.raises(BadRequestError) as err:
        sdk.chat.completions.create(None, [], max_tokens=2)
    assert err.value.status_code == 400


def test_sync_client_reads_logprobs(client, video):
    sdk = Client("http://testserver", http_client=client)
    whole = sdk.chat.completions.create(None, _messages(video), max_tokens=8, logprobs=True, top_logprobs=2)
    content = whole.choices[0].logprobs.content
    assert len(content) == whole.usage.completion_tokens
    assert all(t.logprob <= 0 and len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)
    with sdk.chat.completions.create(None, _messages(video), max_tokens=8, logprobs=True, top_logprobs=2,
                                     stream=True) as stream:
        streamed = [t for c in stream if c.choices and c.choices[0].logprobs for t in c.choices[0].logprobs.content]
    assert [t.raw for t in streamed] == [t.raw for t in content]


def test_async_client_over_asgi_transport(client, video):
    app = client.app  # the TestClient has already run the app's lifespan

    async def main():
        async with AsyncClient("http://testserver", http_client=httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app))) as sdk:
            whole = await sdk.chat.completions.create(None, _messages(video), max_tokens=12)
            stream = await sdk.chat.completions.create(None, _messages(video), max_tokens=12, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return whole.choices[0].message.content, text

    whole, streamed = asyncio.run(main())
    assert whole and streamed == whole


def test_error_sent_mid_stream_raises(tiny_pairs, tmp_path, video):
    """A request that times out after its first token: the stream carries the error envelope."""
    app = create_app(Settings(cache_dir=str(tmp_path), request_timeout=1e-9), pair=tiny_pairs["qwen2_5_vl"])
    with TestClient(app) as http:
        wait_ready(http)
        sdk = Client("http://testserver", http_client=http)
        chunks = []
        with pytest.raises(APIError) as err:
            for chunk in sdk.chat.completions.create(None, _messages(video), max_tokens=200, stream=True):
                chunks.append(chunk)
        assert err.value.code == "request_timeout"
        assert chunks and chunks[0].choices[0].delta.role == "assistant"
