"""Message content parts; local files and raw bytes travel inline as base64 data: URLs."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any, Union

MediaSource = Union[str, "os.PathLike[str]", bytes]

_URL_SCHEMES = ("http://", "https://", "data:", "file://")

_MIME_BY_SUFFIX = {
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".webm": "video/webm",
    ".mkv": "video/x-matroska", ".avi": "video/x-msvideo",
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".bmp": "image/bmp",
}


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def video_part(source: MediaSource, mime: str | None = None) -> dict[str, Any]:
    """A `video_url` part from a path, raw bytes, or a URL (http(s)://, data:, file://) passed as is."""
    return {"type": "video_url", "video_url": {"url": media_url(source, mime)}}


def image_part(source: MediaSource, mime: str | None = None) -> dict[str, Any]:
    """An `image_url` part; the same sources as `video_part`."""
    return {"type": "image_url", "image_url": {"url": media_url(source, mime)}}


def media_url(source: MediaSource, mime: str | None = None) -> str:
    if isinstance(source, str) and source.startswith(_URL_SCHEMES):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, suffix = bytes(source), ""
    else:
        path = Path(source)
        data, suffix = path.read_bytes(), path.suffix.lower()
    mime = mime or _MIME_BY_SUFFIX.get(suffix) or sniff_mime(data)
    if mime is None:
        raise ValueError("cannot tell the media type from the name or the bytes; pass mime=")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def sniff_mime(data: bytes) -> str | None:
    """The MIME type from a container's magic bytes, for the formats the server decodes."""
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: WebM is Matroska with the "webm" doctype
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if data.startswith(b"RIFF"):
        return {b"AVI ": "video/x-msvideo", b"WEBP": "image/webp"}.get(data[8:12])
    for magic, mime in ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                        (b"GIF8", "image/gif"), (b"BM", "image/bmp")):
        if data.startswith(magic):
            return mime
    return None
