"""Media bytes from data:, http(s):// and file:// URLs, within the operator's limits."""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

_MAX_REDIRECTS = 5


class MediaError(ValueError):
    """Bad media from a client: becomes an HTTP 4xx in OpenAI's error envelope."""

    def __init__(self, message: str, code: str = "invalid_media", status: int = 400, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.param = param


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 256 * 1024 * 1024  # cap for any source
    timeout_s: float = 30.0  # total time for an http(s) fetch, redirects included
    allowed_domains: tuple[str, ...] | None = None  # None: any host; else these hosts and their subdomains
    allowed_local_path: str | None = None  # file:// only below this directory; None: file:// refused


def _too_large(policy: FetchPolicy) -> MediaError:
    return MediaError(f"media is larger than the server limit of {policy.max_bytes} bytes", "media_too_large", 413)


def _from_data_url(url: str, policy: FetchPolicy) -> tuple[bytes, str | None]:
    header, sep, payload = url[len("data:"):].partition(",")
    if not sep or not header.lower().endswith(";base64"):
        raise MediaError("data: URLs must look like data:<mime>;base64,<payload>", "invalid_base64")
    payload = "".join(payload.split())  # MIME-style base64 wraps lines
    if len(payload) // 4 * 3 > policy.max_bytes + 2:  # surely too large: spare decoding it
        raise _too_large(policy)
    try:
        data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)  # padding is often dropped
    except (binascii.Error, ValueError):
        raise MediaError("data: URL payload is not valid base64", "invalid_base64") from None
    if len(data) > policy.max_bytes:
        raise _too_large(policy)
    return data, header[: -len(";base64")].split(";")[0].strip() or None


def _check_host(url: httpx.URL, policy: FetchPolicy) -> None:
    host = url.host.lower()
    allowed = policy.allowed_domains
    if allowed is not None and not any(host == d or host.endswith("." + d) for d in allowed):
        raise MediaError(f"media host {host!r} is not in the server's allowed domains", "media_domain_not_allowed")


async def _read_capped(response: httpx.Response, policy: FetchPolicy) -> bytes:
    """The body, refused as soon as it (or its declared length) passes the byte cap."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise _too_large(policy)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > policy.max_bytes:
            raise _too_large(policy)
        chunks.append(chunk)
    return b"".join(chunks)


async def _get(url: httpx.URL, policy: FetchPolicy, client: httpx.AsyncClient) -> tuple[bytes, str | None]:
    # Redirects are followed here rather than by httpx so that every hop meets the allow-list.
    for _ in range(_MAX_REDIRECTS + 1):
        _check_host(url, policy)
        async with client.stream("GET", url, follow_redirects=False) as response:
            if response.has_redirect_location:
                url = response.next_request.url
                continue
            if not response.is_success:
                raise MediaError(f"fetching media from {url.host} failed: HTTP {response.status_code}",
                                 "media_fetch_failed")
            content_type = response.headers.get("content-type")
            return await _read_capped(response, policy), content_type.split(";")[0].strip() if content_type else None
    raise MediaError(f"fetching media from {url.host} failed: more than {_MAX_REDIRECTS} redirects",
                     "media_fetch_failed")


async def _from_http(url: str, policy: FetchPolicy, client: httpx.AsyncClient | None) -> tuple[bytes, str | None]:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise MediaError("media URL is malformed", "unsupported_media_url") from None
    own_client = client is None
    client = client or httpx.AsyncClient(timeout=policy.timeout_s)
    try:
        return await asyncio.wait_for(_get(parsed, policy, client), policy.timeout_s)
    except asyncio.TimeoutError:  # not yet the builtin TimeoutError on Python 3.10
        raise MediaError(f"fetching media from {parsed.host} failed: timed out after {policy.timeout_s:g} s",
                         "media_fetch_failed") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise MediaError(f"fetching media from {parsed.host} failed: {reason}", "media_fetch_failed") from None
    finally:
        if own_client:
            await client.aclose()


def _from_file(url: str, policy: FetchPolicy) -> tuple[bytes, str | None]:
    if not policy.allowed_local_path:
        raise MediaError("file:// media is disabled on this server", "local_media_forbidden", 403)
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
        raise MediaError("file:// URLs must name an absolute local path", "unsupported_media_url")
    root = Path(policy.allowed_local_path).resolve()
    path = Path(unquote(parsed.path)).resolve()  # follows symlinks and ../
    if not path.is_relative_to(root):
        raise MediaError("file:// media outside the allowed directory", "local_media_forbidden", 403)
    if not path.is_file():  # missing, or a directory, device or pipe
        raise MediaError(f"no such media file: {path.name}", "media_not_found")
    try:
        with path.open("rb") as file:
            data = file.read(policy.max_bytes + 1)
    except OSError as exc:
        raise MediaError(f"media file {path.name} cannot be read: {exc.strerror}", "media_not_found") from None
    if len(data) > policy.max_bytes:
        raise _too_large(policy)
    return data, None


async def fetch_bytes(url: str, policy: FetchPolicy, client: httpx.AsyncClient | None = None
                      ) -> tuple[bytes, str | None]:
    """Bytes and MIME type (if known) of a data:, http(s):// or file:// media URL."""
    scheme = url.partition(":")[0].lower() if ":" in url else ""
    if scheme == "data":
        return _from_data_url(url, policy)
    if scheme in ("http", "https"):
        return await _from_http(url, policy, client)
    if scheme == "file":
        return await asyncio.to_thread(_from_file, url, policy)
    raise MediaError("media URLs must be data:, http(s):// or file://", "unsupported_media_url")
