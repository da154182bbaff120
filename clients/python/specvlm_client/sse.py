"""Server-Sent Events decoding, in three layers: bytes -> lines -> events.

Follows the WHATWG event-stream rules that matter to a client of this server: any of
CRLF, LF or CR ends a line (even when split across network reads), `:` lines are
comments (the server's `: keep-alive`), several `data:` lines join with newlines, and an
event is only dispatched by a blank line, so a stream cut mid-event yields nothing for it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import AsyncIterable, AsyncIterator, Iterable, Iterator

_LINE_END = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str = ""


class LineDecoder:
    """Turns byte chunks cut anywhere (even inside a UTF-8 character) into complete lines."""

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def decode(self, chunk: bytes) -> list[str]:
        text = self._partial + self._utf8.decode(chunk)
        # A trailing CR may be the first half of CRLF: keep it until the next chunk tells.
        held_cr = text.endswith("\r")
        if held_cr:
            text = text[:-1]
        *lines, rest = _LINE_END.split(text)
        self._partial = rest + ("\r" if held_cr else "")
        return lines

    def flush(self) -> list[str]:
        """Lines completed by the end of the stream: only a held CR ends one."""
        rest, self._partial = self._partial, ""
        return [rest[:-1]] if rest.endswith("\r") else []


class EventDecoder:
    """Turns lines into events; returns an event when a blank line completes one."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""  # persists across events, as the spec says

    def decode(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._last_id = value
        return None  # unknown fields (and `retry`, since this client never reconnects) are ignored

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(data="\n".join(data), event=event or "message", id=self._last_id)


class SSEParser:
    """Both decoders chained: feed byte chunks, get the events they complete."""

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._events = EventDecoder()

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        return self._to_events(self._lines.decode(chunk))

    def end(self) -> list[ServerSentEvent]:
        return self._to_events(self._lines.flush())

    def _to_events(self, lines: list[str]) -> list[ServerSentEvent]:
        return [event for event in map(self._events.decode, lines) if event is not None]


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    parser = SSEParser()
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.end()


async def aiter_sse(chunks: AsyncIterable[bytes]) -> AsyncIterator[ServerSentEvent]:
    parser = SSEParser()
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.end():
        yield event
