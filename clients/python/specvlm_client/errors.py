"""Typed exceptions for the server's error envelope {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from typing import Any

import httpx


class APIError(Exception):
    """Any failure of a request; `status_code` is None for an error sent after streaming began."""

    def __init__(self, message: str, *, status_code: int | None = None, type: str | None = None,
                 param: str | None = None, code: str | None = None, body: Any = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.type = type
        self.param = param
        self.code = code
        self.body = body

    def __str__(self) -> str:
        tags = " ".join(str(tag) for tag in (self.status_code, self.code) if tag is not None)
        return f"[{tags}] {self.message}" if tags else self.message


class BadRequestError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class NotFoundError(APIError):
    pass


class RateLimitError(APIError):
    pass


class ServerError(APIError):
    pass


class APIConnectionError(APIError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    pass


_BY_STATUS = {400: BadRequestError, 401: AuthenticationError, 404: NotFoundError, 429: RateLimitError}
# Errors sent mid-stream have no HTTP status of their own; their envelope's `type` tells.
_BY_TYPE = {"invalid_request_error": BadRequestError, "authentication_error": AuthenticationError,
            "rate_limit_error": RateLimitError, "server_error": ServerError, "timeout_error": ServerError}


def error_from_body(body: Any, status_code: int | None) -> APIError:
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        envelope = {"message": str(body) if body else f"HTTP {status_code}"}
    if status_code is None:
        cls = _BY_TYPE.get(str(envelope.get("type")), APIError)
    else:
        cls = _BY_STATUS.get(status_code, ServerError if status_code >= 500 else APIError)
    return cls(str(envelope.get("message") or f"HTTP {status_code}"), status_code=status_code,
               type=envelope.get("type"), param=envelope.get("param"), code=envelope.get("code"), body=body)


def error_from_response(response: httpx.Response) -> APIError:
    """The response must have been read."""
    try:
        body: Any = response.json()
    except ValueError:  # not JSON, e.g. a proxy's HTML error page
        body = response.text[:500]
    return error_from_body(body, response.status_code)


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    return cls(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
