"""Content parts: files and bytes become data: URLs with the right MIME type; URLs pass through."""

from __future__ import annotations

import base64

import pytest

from specvlm_client import image_part, text_part, video_part

MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def decode(url: str) -> tuple[str, bytes]:
    header, payload = url.split(",", 1)
    assert header.startswith("data:") and header.endswith(";base64")
    return header[len("data:"):-len(";base64")], base64.b64decode(payload)


@pytest.mark.parametrize("name, mime", [("clip.mp4", "video/mp4"), ("clip.WEBM", "video/webm"),
                                        ("clip.mkv", "video/x-matroska"), ("clip.mov", "video/quicktime"),
                                        ("clip.avi", "video/x-msvideo")])
def test_video_file_by_suffix(tmp_path, name, mime):
    path = tmp_path / name
    path.write_bytes(b"not really a video")
    part = video_part(path)
    assert part["type"] == "video_url"
    assert decode(part["video_url"]["url"]) == (mime, b"not really a video")
    assert decode(video_part(str(path))["video_url"]["url"])[0] == mime  # a str path works too


@pytest.mark.parametrize("data, mime", [(MP4, "video/mp4"), (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
                                        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm", "video/webm"),
                                        (b"\x1a\x45\xdf\xa3\x9f\x42\x82\x88matroska", "video/x-matroska"),
                                        (b"RIFF\x00\x00\x00\x00AVI LIST", "video/x-msvideo")])
def test_video_bytes_sniffed(data, mime):
    assert decode(video_part(data)["video_url"]["url"]) == (mime, data)


def test_unknown_file_sniffed_from_content(tmp_path):
    path = tmp_path / "recording.bin"
    path.write_bytes(MP4)
    assert decode(video_part(path)["video_url"]["url"])[0] == "video/mp4"


def test_explicit_mime_wins():
    assert decode(video_part(MP4, mime="video/webm")["video_url"]["url"])[0] == "video/webm"


def test_unknown_bytes_need_a_mime():
    with pytest.raises(ValueError, match="mime="):
        video_part(b"plain bytes")


@pytest.mark.parametrize("url", ["https://example.com/a.mp4", "http://x/y", "file:///data/v.mp4",
                                 "data:video/mp4;base64,AAAA"])
def test_urls_pass_through(url):
    assert video_part(url) == {"type": "video_url", "video_url": {"url": url}}
    assert image_part(url) == {"type": "image_url", "image_url": {"url": url}}


def test_image_parts(tmp_path):
    assert decode(image_part(PNG)["image_url"]["url"]) == ("image/png", PNG)
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    assert decode(image_part(tmp_path / "photo.jpg")["image_url"]["url"]) == ("image/jpeg", b"\xff\xd8\xff\xe0")


def test_text_part():
    assert text_part("hi") == {"type": "text", "text": "hi"}
