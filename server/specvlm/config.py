"""Server settings, parsed once: CLI flags, each with an env default (SPECVLM_<FLAG>)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path

from .decoding import DRAFT_POSITIONS, METHODS
from .spec.pruning import STRATEGIES
from .spec.tree import TREE_SHAPES


@dataclass(frozen=True)
class Settings:
    target: str | None = None  # HF checkpoint dir or hub id; none: the bundled tiny pair
    draft: str | None = None
    tiny_family: str = "qwen2_5_vl"  # family of the tiny pair served when no target is named
    served_model_name: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    device: str = "auto"
    dtype: str = "auto"
    api_key: str | None = None
    # decoding defaults (a request may choose method and drop rate)
    method: str = "specvlm"
    drop_rate: float = 0.9
    pruning: str = "specvlm"
    attention_mass: float = 0.4
    draft_positions: str = "original"
    tree: str = "tree"
    default_max_tokens: int = 512
    # media ceilings: a request can lower them, never raise them
    max_frames: int = 32
    default_num_frames: int = 8
    default_fps: float | None = None
    max_video_bytes: int = 256 * 1024 * 1024
    max_pixels: int | None = None
    max_frame_side: int = 1280  # decoded frames are scaled down to this longer side
    media_timeout: float = 30.0
    allowed_local_media_path: str | None = None
    allowed_media_domains: str | None = None  # comma-separated
    # queueing
    max_queue: int = 64
    max_running: int = 1  # requests decoded at once, interleaved step by step (each holds its KV caches)
    prefix_cache_gb: float = 0.0  # target KV caches of video prefixes kept for follow-up requests
    request_timeout: float = 600.0
    keepalive_interval: float = 5.0
    cache_dir: str = str(Path.home() / ".cache" / "specvlm")

    def __post_init__(self):
        problems = [name for name, ok in (
            ("drop_rate must be in [0, 1)", 0 <= self.drop_rate < 1),
            ("attention_mass must be in (0, 1]", 0 < self.attention_mass <= 1),
            ("max_queue must be at least 1", self.max_queue >= 1),
            ("max_running must be at least 1", self.max_running >= 1),
            ("prefix_cache_gb must not be negative", self.prefix_cache_gb >= 0),
            ("max_frames must be at least 1", self.max_frames >= 1),
            ("default_num_frames must be in [1, max_frames]", 1 <= self.default_num_frames <= self.max_frames),
            ("default_max_tokens must be at least 1", self.default_max_tokens >= 1),
            ("request_timeout and keepalive_interval must be positive",
             self.request_timeout > 0 and self.keepalive_interval > 0),
        ) if not ok]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def media_domains(self) -> tuple[str, ...] | None:
        if not self.allowed_media_domains:
            return None
        return tuple(d.strip().lower() for d in self.allowed_media_domains.split(",") if d.strip())


_CHOICES = {"method": METHODS, "pruning": STRATEGIES, "draft_positions": DRAFT_POSITIONS,
            "tree": tuple(TREE_SHAPES), "tiny_family": ("qwen2_5_vl", "llava_onevision")}
_HELP = {
    "target": "target checkpoint (local dir or hub id); default: the bundled tiny demo pair",
    "draft": "draft checkpoint of the same family; default: none with --target (then only method ar), "
             "the tiny draft otherwise",
    "method": "default decoding method of requests that do not choose one",
    "drop_rate": "share of video tokens hidden from the draft (SpecVLM default 0.9)",
    "api_key": "require 'Authorization: Bearer KEY' on /v1 routes",
    "allowed_local_media_path": "serve file:// media only below this directory (refused by default)",
    "allowed_media_domains": "comma-separated hosts allowed for http(s) media (default: any)",
    "max_queue": "requests waiting beyond this are refused with 429",
    "max_running": "requests decoded at once, one step each in turn; each holds its own KV caches",
    "request_timeout": "seconds a request may take, queueing included",
    "prefix_cache_gb": "device memory (GiB) for the target's KV caches of video prefixes, reused when a request "
                       "repeats a prompt up to its last video token (a chat's next turn); 0: off",
}


def _env_name(name: str) -> str:
    return "SPECVLM_" + name.upper()


def _parse_env(field_type: str, raw: str):
    kind = field_type.split("|")[0].strip()
    return {"int": int, "float": float}.get(kind, str)(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in fields(Settings):
        kind = str(f.type).split("|")[0].strip()
        env = os.environ.get(_env_name(f.name))
        default = _parse_env(str(f.type), env) if env not in (None, "") else f.default
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, default=default,
                            type={"int": int, "float": float}.get(kind, str), choices=_CHOICES.get(f.name),
                            help=f"{_HELP.get(f.name, '')} [env {_env_name(f.name)}; default {f.default}]".strip())


def from_args(args: argparse.Namespace) -> Settings:
    return Settings(**{f.name: getattr(args, f.name) for f in fields(Settings)})
