"""Client and AsyncClient: the openai SDK's `client.chat.completions.create(...)`, on httpx alone.

The HTTP client is injectable, which is how tests run against an app in process:
`AsyncClient(base, http_client=httpx.AsyncClient(transport=httpx.ASGITransport(app)))`, or
for the sync client any `httpx.Client`, such as Starlette's `TestClient(app)`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Union, overload

import httpx

from ._version import __version__
from .errors import connection_error, error_from_response
from .streaming import AsyncStream, Stream
from .types import ChatCompletion, Model

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Generous read timeout: a long video's prefill can take a while before the first byte.
DEFAULT_TIMEOUT = httpx.Timeout(600.0, connect=10.0)
RETRY_STATUSES = frozenset({429, 503})
# Errors after which the request may be sent again. Read timeouts are not among them: the
# server is likely still generating, and resubmitting would double its work.
RETRYABLE_ERRORS = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
UPLOAD_CHUNK_BYTES = 64 * 1024

UploadProgress = Callable[[int, int], None]  # (bytes sent, bytes in all)
Messages = list[dict[str, Any]]


def retry_delay(attempt: int, response: httpx.Response | None = None) -> float:
    """Seconds to wait before retry number `attempt` (from 0): a short Retry-After, else backoff with jitter."""
    retry_after = response.headers.get("retry-after") if response is not None else None
    try:
        seconds = float(retry_after) if retry_after is not None else None
    except ValueError:  # an HTTP date: rare enough to treat like no header
        seconds = None
    if seconds is not None and 0 <= seconds <= 60:
        return seconds
    return min(0.5 * 2.0**attempt, 8.0) * random.uniform(0.75, 1.0)


def _chat_body(model: str | None, messages: Messages, stream: bool, params: dict[str, Any],
               extra_body: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": messages, "stream": stream, **params, **(extra_body or {})}
    if model is not None:  # without one, the server answers with the model it serves
        body["model"] = model
    return body


def _upload_chunks(data: bytes, progress: UploadProgress) -> Iterator[bytes]:
    for start in range(0, len(data), UPLOAD_CHUNK_BYTES):
        chunk = data[start:start + UPLOAD_CHUNK_BYTES]
        yield chunk
        progress(start + len(chunk), len(data))  # reached once httpx asks for more: the chunk went out


async def _aupload_chunks(data: bytes, progress: UploadProgress) -> AsyncIterator[bytes]:
    for chunk in _upload_chunks(data, progress):
        yield chunk


class _BaseClient:
    def __init__(self, base_url: str, api_key: str | None, timeout: float | httpx.Timeout, max_retries: int):
        base_url = base_url.rstrip("/")
        # Accept openai-style base URLs that end in /v1 as well as the server root.
        self.base_url = base_url[:-len("/v1")] if base_url.endswith("/v1") else base_url
        self.api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries

    def _request_args(self, path: str, body: dict[str, Any] | None, stream: bool,
                      upload_progress: UploadProgress | None, chunker: Callable[..., Any]) -> dict[str, Any]:
        headers = {"User-Agent": f"specvlm-client/{__version__}",
                   "Accept": "text/event-stream" if stream else "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        args: dict[str, Any] = {"url": self.base_url + path, "headers": headers, "timeout": self.timeout}
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
            # Set even for a body sent piecewise, so that it goes out with its length instead of chunked.
            headers["Content-Length"] = str(len(data))
            args["content"] = chunker(data, upload_progress) if upload_progress else data
        return args


class Client(_BaseClient):
    """Synchronous client. `timeout` applies to every request; `http_client` replaces the
    `httpx.Client` the client would make (and is then yours to close)."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, *,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: httpx.Client | None = None):
        super().__init__(base_url, api_key, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client or httpx.Client()
        self.chat = Chat(Completions(self))
        self.models = Models(self)

    def _send(self, method: str, path: str, body: dict[str, Any] | None = None, *, stream: bool = False,
              upload_progress: UploadProgress | None = None) -> httpx.Response:
        attempts = 1 if stream else 1 + self.max_retries  # streams are interactive: fail at once, no backoff
        attempt = 0
        while True:
            last_attempt = attempt >= attempts - 1
            request = self._http.build_request(method, **self._request_args(path, body, stream, upload_progress,
                                                                              _upload_chunks))
            try:
                response = self._http.send(request, stream=stream)
            except RETRYABLE_ERRORS as exc:
                if last_attempt:
                    raise connection_error(exc) from exc
                time.sleep(retry_delay(attempt))
                attempt += 1
                continue
            except httpx.TransportError as exc:
                raise connection_error(exc) from exc
            if response.status_code in RETRY_STATUSES and not last_attempt:
                response.close()
                time.sleep(retry_delay(attempt, response))
                attempt += 1
                continue
            if response.is_error:
                response.read()
                raise error_from_response(response)
            return response

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """Asynchronous client, otherwise like `Client`; `http_client` is an `httpx.AsyncClient`."""

    def __init__(self, base_url: str = DEFAULT_BASE_URL, api_key: str | None = None, *,
                 timeout: float | httpx.Timeout = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: httpx.AsyncClient | None = None):
        super().__init__(base_url, api_key, timeout, max_retries)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient()
        self.chat = AsyncChat(AsyncCompletions(self))
        self.models = AsyncModels(self)

    async def _send(self, method: str, path: str, body: dict[str, Any] | None = None, *, stream: bool = False,
                    upload_progress: UploadProgress | None = None) -> httpx.Response:
        attempts = 1 if stream else 1 + self.max_retries
        attempt = 0
        while True:
            last_attempt = attempt >= attempts - 1
            request = self._http.build_request(method, **self._request_args(path, body, stream, upload_progress,
                                                                              _aupload_chunks))
            try:
                response = await self._http.send(request, stream=stream)
            except RETRYABLE_ERRORS as exc:
                if last_attempt:
                    raise connection_error(exc) from exc
                await asyncio.sleep(retry_delay(attempt))
                attempt += 1
                continue
            except httpx.TransportError as exc:
                raise connection_error(exc) from exc
            if response.status_code in RETRY_STATUSES and not last_attempt:
                await response.aclose()
                await asyncio.sleep(retry_delay(attempt, response))
                attempt += 1
                continue
            if response.is_error:
                await response.aread()
                raise error_from_response(response)
            return response

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class Completions:
    def __init__(self, client: Client):
        self._client = client

    @overload
    def create(self, model: str | None, messages: Messages, *, stream: Literal[False] = False,
               extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
               **params: Any) -> ChatCompletion: ...

    @overload
    def create(self, model: str | None, messages: Messages, *, stream: Literal[True],
               extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
               **params: Any) -> Stream: ...

    def create(self, model: str | None, messages: Messages, *, stream: bool = False,
               extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
               **params: Any) -> Union[ChatCompletion, Stream]:
        """POST /v1/chat/completions. `params` are request fields (max_tokens, stream_options,
        spec_decode, media_io_kwargs, ...); `extra_body` is merged last, as in the openai SDK;
        `upload_progress(sent, total)` is called as the request body goes out."""
        response = self._client._send("POST", "/v1/chat/completions",
                                      _chat_body(model, messages, stream, params, extra_body),
                                      stream=stream, upload_progress=upload_progress)
        return Stream(response) if stream else ChatCompletion.from_dict(response.json())


class AsyncCompletions:
    def __init__(self, client: AsyncClient):
        self._client = client

    @overload
    async def create(self, model: str | None, messages: Messages, *, stream: Literal[False] = False,
                     extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
                     **params: Any) -> ChatCompletion: ...

    @overload
    async def create(self, model: str | None, messages: Messages, *, stream: Literal[True],
                     extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
                     **params: Any) -> AsyncStream: ...

    async def create(self, model: str | None, messages: Messages, *, stream: bool = False,
                     extra_body: dict[str, Any] | None = None, upload_progress: UploadProgress | None = None,
                     **params: Any) -> Union[ChatCompletion, AsyncStream]:
        """Like `Completions.create`, awaited; a stream is iterated with `async for`."""
        response = await self._client._send("POST", "/v1/chat/completions",
                                            _chat_body(model, messages, stream, params, extra_body),
                                            stream=stream, upload_progress=upload_progress)
        return AsyncStream(response) if stream else ChatCompletion.from_dict(response.json())


class Chat:
    def __init__(self, completions: Completions):
        self.completions = completions


class AsyncChat:
    def __init__(self, completions: AsyncCompletions):
        self.completions = completions


class Models:
    def __init__(self, client: Client):
        self._client = client

    def list(self) -> list[Model]:
        return [Model.from_dict(item) for item in self._client._send("GET", "/v1/models").json()["data"]]


class AsyncModels:
    def __init__(self, client: AsyncClient):
        self._client = client

    async def list(self) -> list[Model]:
        response = await self._client._send("GET", "/v1/models")
        return [Model.from_dict(item) for item in response.json()["data"]]
