"""create_app(): the FastAPI application with OpenAI-style errors everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..config import Settings
from ..models.loading import ModelPair
from .errors import APIError
from .routes import router
from .service import Service

log = logging.getLogger("specvlm.server")


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    if first.get("type") == "json_invalid":
        return "request body is not valid JSON", None
    param = ".".join(loc) or None
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return message, param


def create_app(settings: Settings, pair: ModelPair | None = None) -> FastAPI:
    """`pair` skips loading (tests pass an already loaded pair)."""
    service = Service(settings, pair)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(service.start())
        try:
            yield
        finally:
            loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            await service.stop()

    app = FastAPI(title="specvlm", lifespan=lifespan)
    app.state.service = service
    app.include_router(router)

    # base64 media inflates by 4/3; anything much larger than the media cap is refused unread
    max_body = settings.max_video_bytes * 4 // 3 + (1 << 20)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > max_body:
            response = JSONResponse(APIError(413, f"request body larger than {max_body} bytes",
                                             code="request_too_large").body(), status_code=413)
        else:
            response = await call_next(request)
        if request.url.path.startswith("/v1/"):
            service.metrics.requests.labels(status=str(response.status_code)).inc()
        return response

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        message, param = _validation_message(exc)
        return JSONResponse(APIError(400, message, code="invalid_request", param=param).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        kind = "not_found" if exc.status_code == 404 else "invalid_request"
        return JSONResponse(APIError(exc.status_code, str(exc.detail), code=kind).body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        log.exception("unhandled error")
        return JSONResponse(APIError(500, "internal server error", type="server_error", code="internal_error").body(),
                            status_code=500)

    return app
