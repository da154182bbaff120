"""fetch_bytes: data:, file:// and http(s):// sources within a FetchPolicy (no network beyond 127.0.0.1)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from specvlm.media.fetch import FetchPolicy, MediaError, fetch_bytes

PAYLOAD = bytes(range(256)) * 40  # 10 KiB


def fetch(url: str, policy: FetchPolicy = FetchPolicy(), client: httpx.AsyncClient | None = None):
    return asyncio.run(fetch_bytes(url, policy, client))


def refused(url: str, policy: FetchPolicy = FetchPolicy(), client: httpx.AsyncClient | None = None) -> MediaError:
    with pytest.raises(MediaError) as error:
        fetch(url, policy, client)
    return error.value


# data:

def test_data_url():
    url = "data:video/mp4;base64," + base64.b64encode(PAYLOAD).decode()
    assert fetch(url) == (PAYLOAD, "video/mp4")


def test_data_url_tolerates_line_breaks_and_missing_padding():
    encoded = base64.b64encode(PAYLOAD[:100]).decode()
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)).rstrip("=")
    assert fetch("data:image/png;charset=x;base64," + wrapped) == (PAYLOAD[:100], "image/png")


@pytest.mark.parametrize("url", ["data:video/mp4;base64,@@not base64@@", "data:video/mp4;base64,QUJDR",
                                 "data:video/mp4,raw bytes", "data:video/mp4;base64"])
def test_bad_data_url(url):
    error = refused(url)
    assert (error.code, error.status) == ("invalid_base64", 400)


def test_data_url_over_the_cap():
    url = "data:video/mp4;base64," + base64.b64encode(PAYLOAD).decode()
    assert fetch(url, FetchPolicy(max_bytes=len(PAYLOAD)))[0] == PAYLOAD
    error = refused(url, FetchPolicy(max_bytes=len(PAYLOAD) - 1))
    assert (error.code, error.status) == ("media_too_large", 413)


@pytest.mark.parametrize("url", ["ftp://example.com/a.mp4", "/etc/passwd", "clip.mp4", "javascript:alert(1)"])
def test_unsupported_scheme(url):
    assert refused(url).code == "unsupported_media_url"


# file://

@pytest.fixture
def media_dir(tmp_path):
    allowed = tmp_path / "media"
    (allowed / "sub").mkdir(parents=True)
    (allowed / "sub" / "clip.mp4").write_bytes(PAYLOAD)
    (tmp_path / "secret.mp4").write_bytes(b"secret")
    return allowed


def test_file_url_refused_by_default(media_dir):
    error = refused((media_dir / "sub" / "clip.mp4").as_uri())
    assert (error.code, error.status) == ("local_media_forbidden", 403)


def test_file_url_below_the_allowed_dir(media_dir):
    policy = FetchPolicy(allowed_local_path=str(media_dir))
    assert fetch((media_dir / "sub" / "clip.mp4").as_uri(), policy) == (PAYLOAD, None)
    assert fetch(f"file://localhost{media_dir}/sub/clip%2Emp4", policy) == (PAYLOAD, None)


def test_file_url_escapes_are_refused(media_dir):
    policy = FetchPolicy(allowed_local_path=str(media_dir))
    (media_dir / "link.mp4").symlink_to(media_dir.parent / "secret.mp4")
    (media_dir / "linked_dir").symlink_to(media_dir.parent)
    for url in [f"file://{media_dir}/../secret.mp4", f"file://{media_dir}/sub/%2E%2E/%2E%2E/secret.mp4",
                f"file://{media_dir}/link.mp4", f"file://{media_dir}/linked_dir/secret.mp4",
                (media_dir.parent / "secret.mp4").as_uri()]:
        error = refused(url, policy)
        assert (error.code, error.status) == ("local_media_forbidden", 403), url


def test_file_url_problems(media_dir):
    policy = FetchPolicy(allowed_local_path=str(media_dir))
    missing = refused(f"file://{media_dir}/nope.mp4", policy)
    assert (missing.code, missing.status) == ("media_not_found", 400)
    assert refused(f"file://{media_dir}/sub", policy).code == "media_not_found"  # a directory
    os.mkfifo(media_dir / "pipe")
    assert refused(f"file://{media_dir}/pipe", policy).code == "media_not_found"  # reading it would block
    assert refused(f"file://otherhost{media_dir}/sub/clip.mp4", policy).code == "unsupported_media_url"
    too_large = refused((media_dir / "sub" / "clip.mp4").as_uri(), FetchPolicy(max_bytes=100,
                                                                               allowed_local_path=str(media_dir)))
    assert (too_large.code, too_large.status) == ("media_too_large", 413)


# http(s):// from a local server

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/clip.mp4":
            self.reply(200, PAYLOAD, {"Content-Type": "video/mp4; codecs=avc1", "Content-Length": str(len(PAYLOAD))})
        elif self.path == "/unsized":  # no Content-Length: the cap must hold while streaming
            self.reply(200, PAYLOAD, {"Content-Type": "video/mp4"})
            self.close_connection = True
        elif self.path == "/moved":
            self.reply(302, b"", {"Location": "/clip.mp4", "Content-Length": "0"})
        elif self.path == "/slow":
            time.sleep(2)
            self.reply(200, PAYLOAD, {"Content-Length": str(len(PAYLOAD))})
        else:
            self.reply(404, b"not here", {"Content-Length": "8"})

    def reply(self, status: int, body: bytes, headers: dict[str, str]):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # clients that time out or hit the byte cap hang up early, on purpose
        if not issubclass(sys.exc_info()[0], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="module")
def server():
    httpd = QuietServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_fetch(server):
    assert fetch(f"{server}/clip.mp4") == (PAYLOAD, "video/mp4")
    assert fetch(f"{server}/moved") == (PAYLOAD, "video/mp4")  # redirects are followed


def test_http_fetch_with_the_servers_client(server):
    async def twice():
        async with httpx.AsyncClient() as client:
            return [await fetch_bytes(f"{server}/clip.mp4", FetchPolicy(), client) for _ in range(2)]

    assert asyncio.run(twice()) == [(PAYLOAD, "video/mp4")] * 2


def test_http_not_found(server):
    error = refused(f"{server}/missing.mp4")
    assert (error.code, error.status) == ("media_fetch_failed", 400)
    assert "127.0.0.1" in error.message and "404" in error.message


@pytest.mark.parametrize("path", ["/clip.mp4", "/unsized"])
def test_http_over_the_cap(server, path):
    assert fetch(f"{server}{path}", FetchPolicy(max_bytes=len(PAYLOAD)))[0] == PAYLOAD
    error = refused(f"{server}{path}", FetchPolicy(max_bytes=len(PAYLOAD) - 1))
    assert (error.code, error.status) == ("media_too_large", 413)


def test_http_domain_allow_list(server):
    assert fetch(f"{server}/clip.mp4", FetchPolicy(allowed_domains=("127.0.0.1",)))[0] == PAYLOAD
    error = refused(f"{server}/clip.mp4", FetchPolicy(allowed_domains=("example.com",)))
    assert (error.code, error.status) == ("media_domain_not_allowed", 400)


def test_http_timeout(server):
    start = time.monotonic()
    error = refused(f"{server}/slow", FetchPolicy(timeout_s=0.3))
    assert time.monotonic() - start < 1.5
    assert error.code == "media_fetch_failed" and "timed out" in error.message


def test_http_unreachable():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    error = refused(f"http://127.0.0.1:{port}/clip.mp4", FetchPolicy(timeout_s=2))
    assert time.monotonic() - start < 1.5
    assert error.code == "media_fetch_failed" and "127.0.0.1" in error.message


# redirects and subdomains, through a mock transport: no DNS needed

def mock_client(routes: dict[str, httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda request: routes[str(request.url)]))


def test_subdomains_are_allowed():
    client = mock_client({"https://cdn.example.com/a.mp4": httpx.Response(200, content=PAYLOAD)})
    policy = FetchPolicy(allowed_domains=("example.com",))
    assert fetch("https://cdn.example.com/a.mp4", policy, client)[0] == PAYLOAD
    assert refused("https://badexample.com/a.mp4", policy, client).code == "media_domain_not_allowed"


def test_every_redirect_hop_meets_the_allow_list():
    client = mock_client({
        "https://example.com/a.mp4": httpx.Response(302, headers={"Location": "https://media.example.com/a.mp4"}),
        "https://media.example.com/a.mp4": httpx.Response(301, headers={"Location": "http://169.254.169.254/"}),
    })
    error = refused("https://example.com/a.mp4", FetchPolicy(allowed_domains=("example.com",)), client)
    assert error.code == "media_domain_not_allowed" and "169.254.169.254" in error.message


def test_redirect_loop():
    client = mock_client({"https://example.com/loop": httpx.Response(302, headers={"Location": "/loop"})})
    error = refused("https://example.com/loop", FetchPolicy(), client)
    assert error.code == "media_fetch_failed" and "redirects" in error.message
