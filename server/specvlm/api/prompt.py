"""OpenAI messages -> a Prompt with decoded media (fetching and decoding off the event loop)."""

from __future__ import annotations

import asyncio

import httpx

from ..inputs import Prompt
from ..media.fetch import FetchPolicy, MediaError, fetch_bytes
from ..media.frames import decode_image, decode_video
from .errors import APIError
from .protocol import ChatCompletionRequest, ImagePart, TextPart, VideoPart


def _media_error(exc: MediaError, param: str) -> APIError:
    return APIError(exc.status, exc.message, code=exc.code, param=exc.param or param)


async def build_prompt(request: ChatCompletionRequest, sampling: dict, policy: FetchPolicy,
                       client: httpx.AsyncClient | None = None) -> Prompt:
    """Chat-template messages plus frames and images in order of appearance."""
    messages, videos, images = [], [], []
    for i, message in enumerate(request.messages):
        content = message.content
        if content is None or isinstance(content, str):
            messages.append({"role": message.role, "content": [{"type": "text", "text": content or ""}]})
            continue
        parts = []
        for j, part in enumerate(content):
            param = f"messages[{i}].content[{j}]"
            if isinstance(part, TextPart):
                parts.append({"type": "text", "text": part.text})
                continue
            url = part.video_url.url if isinstance(part, VideoPart) else part.image_url.url
            try:
                data, _ = await fetch_bytes(url, policy, client)
                if isinstance(part, VideoPart):
                    videos.append(await asyncio.to_thread(decode_video, data, **sampling))
                    parts.append({"type": "video"})
                elif isinstance(part, ImagePart):
                    images.append(await asyncio.to_thread(decode_image, data))
                    parts.append({"type": "image"})
            except MediaError as exc:
                raise _media_error(exc, param) from None
        messages.append({"role": message.role, "content": parts})
    return Prompt(messages, videos, images)
