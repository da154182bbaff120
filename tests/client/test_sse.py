"""SSE decoding on byte streams cut at every possible place."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from specvlm_client import ServerError
from specvlm_client.sse import LineDecoder, ServerSentEvent, aiter_sse, iter_sse
from specvlm_client.streaming import Stream

# Mixed line endings, keep-alive comments, a multi-line payload, a multi-byte character, [DONE].
STREAM = ": keep-alive\r\n\r\n" \
         'data: {"a": 1}\r\n\r\n' \
         "data: x\r\ndata: y\r\n\r\n" \
         "data: first\rdata: second\r\r" \
         ": keep-alive\n\n" \
         "data: caf\u00e9 \u2713\n\n" \
         "data: [DONE]\n\n"
EXPECTED = ['{"a": 1}', "x\ny", "first\nsecond", "caf\u00e9 \u2713", "[DONE]"]


def data_of(chunks: list[bytes]) -> list[str]:
    return [event.data for event in iter_sse(chunks)]


def test_whole_stream():
    assert data_of([STREAM.encode()]) == EXPECTED


def test_any_single_cut_gives_the_same_events():
    raw = STREAM.encode()
    for cut in range(1, len(raw)):
        assert data_of([raw[:cut], raw[cut:]]) == EXPECTED, f"cut at byte {cut}"


def test_one_byte_at_a_time():
    raw = STREAM.encode()
    assert data_of([raw[i:i + 1] for i in range(len(raw))]) == EXPECTED


def test_crlf_split_between_chunks_is_one_line_end():
    # Were the CR taken as a line end on its own, the LF would add a blank line and split the event.
    assert data_of([b"data: a\r", b"\ndata: b\r\n\r\n"]) == ["a\nb"]


def test_line_decoder_keeps_partial_lines():
    decoder = LineDecoder()
    assert decoder.decode(b"data: par") == []
    assert decoder.decode(b"tial\nnext") == ["data: partial"]
    assert decoder.flush() == []  # "next" was never ended


def test_comments_only_yield_nothing():
    assert data_of([b": keep-alive\n\n: keep-alive\n\n"]) == []


def test_event_cut_off_at_the_end_is_dropped():
    assert data_of([b"data: complete\n\ndata: cut off\n"]) == ["complete"]


def test_final_cr_ends_the_stream_cleanly():
    assert data_of([b"data: x\r\r"]) == ["x"]


def test_field_parsing():
    raw = b"data:no space\n\ndata:  two spaces\n\ndata\n\nevent: ping\nid: 7\ndata: p\n\ndata: q\n\nretry: 10\n\n"
    assert list(iter_sse([raw])) == [
        ServerSentEvent(data="no space"), ServerSentEvent(data=" two spaces"), ServerSentEvent(data=""),
        ServerSentEvent(data="p", event="ping", id="7"), ServerSentEvent(data="q", id="7"),  # the id persists
    ]


def test_async_decoding_matches():
    async def pieces():
        raw = STREAM.encode()
        for i in range(0, len(raw), 5):
            yield raw[i:i + 5]

    async def collect():
        return [event.data async for event in aiter_sse(pieces())]

    assert asyncio.run(collect()) == EXPECTED


def test_error_event_split_across_chunks_raises_typed_error():
    body = ('data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n'
            'data: {"error": {"message": "worker died", "type": "server_error", "param": null, '
            '"code": "internal_error"}}\n\ndata: [DONE]\n\n').encode()
    response = httpx.Response(200, stream=_Chunked([body[:70], body[70:75], body[75:]]))
    stream = Stream(response)
    assert next(stream).choices[0].delta.content == "Hi"
    with pytest.raises(ServerError) as info:
        next(stream)
    assert (info.value.code, info.value.message, info.value.status_code) == ("internal_error", "worker died", None)
    assert response.is_closed


class _Chunked(httpx.SyncByteStream):
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks

    def __iter__(self):
        yield from self.chunks
