"""What the routes share: settings, the loaded pair, the engine, metrics, the media client."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from pathlib import Path

import httpx

from ..config import Settings
from ..engine.core import Engine, warm_up
from ..engine.metrics import Metrics
from ..media.fetch import FetchPolicy
from ..models.loading import ModelPair, load_pair
from ..models.prefix_cache import PrefixCache, prefix_key
from ..models.tiny import cached_tiny_pair
from .errors import APIError

log = logging.getLogger("specvlm.server")


def load_configured_pair(settings: Settings) -> ModelPair:
    target, draft = settings.target, settings.draft
    if target is None:
        target, draft = (str(p) for p in cached_tiny_pair(settings.cache_dir, settings.tiny_family))
        log.info("no --target given: serving the tiny demo pair from %s", Path(target).parent)
    return load_pair(target, draft, settings.device, settings.dtype)


def served_model_name(settings: Settings) -> str:
    if settings.served_model_name:
        return settings.served_model_name
    if settings.target is None:
        return f"specvlm-tiny-{settings.tiny_family}"
    return settings.target.rstrip("/") if "/" in settings.target and not Path(settings.target).exists() \
        else Path(settings.target).name


class Service:
    def __init__(self, settings: Settings, pair: ModelPair | None = None):
        self.settings = settings
        self.pair = pair
        self.metrics = Metrics()
        self.engine: Engine | None = None
        self.status = "loading"
        self.model_name = served_model_name(settings)
        self.created = int(time.time())
        self.fetch_policy = FetchPolicy(max_bytes=settings.max_video_bytes, timeout_s=settings.media_timeout,
                                        allowed_domains=settings.media_domains,
                                        allowed_local_path=settings.allowed_local_media_path)
        # Redirects are not followed: they could lead around the domain allow-list.
        self.http = httpx.AsyncClient(timeout=settings.media_timeout, follow_redirects=False)

    async def start(self) -> None:
        """Load the models (in a thread: /health answers 503 meanwhile) and start the worker."""
        try:
            if self.pair is None:
                self.pair = await asyncio.to_thread(load_configured_pair, self.settings)
            await asyncio.to_thread(warm_up, self.pair)
        except Exception as exc:
            log.exception("loading the models failed")
            self.status = f"failed to load models: {exc}"
            return
        if self.pair.draft is None and self.settings.method != "ar":
            log.warning("no draft model: requests decode with the target alone unless they ask otherwise")
            self.settings = replace(self.settings, method="ar")
        prefix_cache = PrefixCache(int(self.settings.prefix_cache_gb * 2**30)) if self.settings.prefix_cache_gb else None
        self.engine = Engine(self.pair, self.metrics, self.settings.max_queue, self.settings.request_timeout,
                             self.settings.max_running, prefix_cache)
        self.engine.start()
        self.status = "ok"
        log.info("serving %s (draft: %s)", self.model_name, "yes" if self.pair.draft else "none")

    async def stop(self) -> None:
        if self.engine is not None:
            await asyncio.to_thread(self.engine.shutdown)
        await self.http.aclose()

    @property
    def ready(self) -> bool:
        return self.status == "ok" and self.engine is not None and self.engine.alive

    def require_ready(self) -> None:
        if not self.ready:
            raise APIError(503, f"server not ready: {self.status}", type="server_error", code="unavailable")

    @property
    def max_model_len(self) -> int | None:
        return self.pair.max_model_len if self.pair is not None else None

    async def prefix_key(self, inputs) -> str | None:
        """The prompt's video-prefix digest when the prefix cache is on (hashing runs off the loop)."""
        if self.engine is None or self.engine.prefix_cache is None:
            return None
        return await asyncio.to_thread(prefix_key, inputs, self.pair.target.video_token_id)

    async def process(self, build, prompt, pixel_limits: dict):
        """Run the HF processor off the event loop; its complaints are the client's input errors."""
        processor = self.pair.processor
        resizes_by_pixels = "longest_edge" in (getattr(processor, "video_processor", None).size or {})
        if self.settings.max_pixels and resizes_by_pixels and "max_pixels" not in pixel_limits:
            pixel_limits = {**pixel_limits, "max_pixels": self.settings.max_pixels}
        try:
            return await asyncio.to_thread(build, processor, prompt, pixel_limits)
        except (ValueError, TypeError, IndexError) as exc:
            raise APIError(400, f"could not process the request's media or text: {exc}",
                           code="invalid_media") from None
