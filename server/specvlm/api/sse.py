"""Server-Sent Events framing."""

from __future__ import annotations

import json

KEEPALIVE = ": keep-alive\n\n"
DONE = "data: [DONE]\n\n"


def event(payload: dict) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'), ensure_ascii=False)}\n\n"
