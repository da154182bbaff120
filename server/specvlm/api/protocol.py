"""Request and response shapes of /v1/chat/completions (OpenAI's, plus vLLM's multimodal
extensions and our `spec_decode`). The request model owns its conversion to engine params."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..config import Settings
from ..decoding import DecodingParams, GenerationStats, TokenLogprob
from .errors import APIError, bad_request


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaURL(_Strict):
    url: str = Field(min_length=1)
    detail: str | None = None  # OpenAI image detail hint; accepted, not used


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class VideoPart(_Strict):
    type: Literal["video_url"]
    video_url: MediaURL


class ImagePart(_Strict):
    type: Literal["image_url"]
    image_url: MediaURL


ContentPart = Annotated[Union[TextPart, VideoPart, ImagePart], Field(discriminator="type")]


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. `name`
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class VideoIOKwargs(_Strict):
    num_frames: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0)


class MediaIOKwargs(BaseModel):
    model_config = ConfigDict(extra="ignore")
    video: VideoIOKwargs | None = None


class SpecDecode(_Strict):
    method: Literal["specvlm", "naive", "off"] | None = None
    drop_rate: float | None = Field(None, ge=0.0, lt=1.0)


class StreamOptions(BaseModel):
    include_usage: bool = False


# Known OpenAI/vLLM fields that would change the output but are not implemented: a request
# gets a 400 unless they hold a value that changes nothing, instead of having them ignored.
_NO_OP_VALUES = {
    "logit_bias": (None, {}), "tools": (None, []), "functions": (None, []),
    "response_format": (None, {"type": "text"}), "best_of": (None, 1),
    "prompt_logprobs": (None,), "echo": (None, False),
}


class ChatCompletionRequest(BaseModel):
    # Other unknown fields (user, metadata, ...) are ignored, as OpenAI's reference server does.
    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1)  # vLLM's extension; -1 or 0: off
    stop: str | list[str] | None = Field(None, validate_default=True)  # normalised to a list
    seed: int | None = None
    n: int = 1
    stream: bool = False
    stream_options: StreamOptions | None = None
    media_io_kwargs: MediaIOKwargs | None = None
    mm_processor_kwargs: dict[str, int] | None = None
    spec_decode: SpecDecode | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    return_token_ids: bool = False
    ignore_eos: bool = False  # vLLM's extension
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    repetition_penalty: float | None = Field(None, gt=0.0)  # vLLM's; default: the checkpoint's
    logit_bias: dict | None = None
    tools: list | None = None
    functions: list | None = None
    response_format: dict | None = None
    min_tokens: int | None = Field(None, ge=0)  # vLLM's
    best_of: int | None = None
    stop_token_ids: list[Annotated[int, Field(ge=0)]] | None = Field(None, max_length=64)  # vLLM's
    prompt_logprobs: int | None = None
    echo: bool | None = None

    @field_validator(*_NO_OP_VALUES)
    @classmethod
    def _unsupported(cls, value, info: ValidationInfo):
        if value not in _NO_OP_VALUES[info.field_name]:
            raise ValueError("not supported by this server")
        return value

    @model_validator(mode="after")
    def _top_logprobs_needs_logprobs(self) -> "ChatCompletionRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=true")
        return self

    @field_validator("n")
    @classmethod
    def _single_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported")
        return n

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, stop):
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def pixel_limits(self, settings: Settings) -> dict:
        kwargs = dict(self.mm_processor_kwargs or {})
        unknown = set(kwargs) - {"max_pixels", "min_pixels"}
        if unknown:
            raise bad_request(f"unsupported mm_processor_kwargs: {', '.join(sorted(unknown))} "
                              "(supported: max_pixels, min_pixels)", param="mm_processor_kwargs")
        for key, value in kwargs.items():
            if value < 1:
                raise bad_request(f"mm_processor_kwargs.{key} must be positive", param="mm_processor_kwargs")
        if settings.max_pixels and kwargs.get("max_pixels", 0) > settings.max_pixels:
            raise bad_request(f"mm_processor_kwargs.max_pixels exceeds the server limit {settings.max_pixels}",
                              param="mm_processor_kwargs")
        return kwargs  # pixel limits; inputs.build_inputs turns them into the processor's size

    def video_sampling(self, settings: Settings) -> dict:
        video = (self.media_io_kwargs.video if self.media_io_kwargs else None) or VideoIOKwargs()
        if video.num_frames is not None and video.num_frames > settings.max_frames:
            raise bad_request(f"media_io_kwargs.video.num_frames={video.num_frames} exceeds the server limit "
                              f"of {settings.max_frames} frames", param="media_io_kwargs")
        fps = video.fps if video.fps is not None else (None if video.num_frames else settings.default_fps)
        return {"num_frames": video.num_frames, "fps": fps, "max_frames": settings.max_frames,
                "default_num_frames": settings.default_num_frames, "max_side": settings.max_frame_side}

    def decoding_params(self, settings: Settings, prompt_tokens: int, max_model_len: int,
                        default_repetition_penalty: float = 1.0) -> DecodingParams:
        room = max_model_len - prompt_tokens
        requested = self.requested_max_tokens()
        if room < 1 or (requested is not None and requested > room):
            raise APIError(400, f"this model's maximum context length is {max_model_len} tokens; the prompt has "
                                f"{prompt_tokens} tokens and {requested or 1} more were requested",
                           code="context_length_exceeded", param="messages")
        max_new_tokens = min(requested or settings.default_max_tokens, room)
        if (self.min_tokens or 0) > max_new_tokens:
            raise bad_request(f"min_tokens={self.min_tokens} exceeds the {max_new_tokens} tokens this request may "
                              "generate", param="min_tokens")
        spec = self.spec_decode or SpecDecode()
        method = spec.method or settings.method
        return DecodingParams(
            method="ar" if method == "off" else method,
            max_new_tokens=max_new_tokens, min_tokens=self.min_tokens or 0,
            drop_rate=settings.drop_rate if spec.drop_rate is None else spec.drop_rate,
            pruning=settings.pruning, attention_mass=settings.attention_mass,
            draft_positions=settings.draft_positions, tree=settings.tree,
            temperature=self.temperature or 0.0, top_p=self.top_p or 1.0, top_k=max(self.top_k or 0, 0),
            seed=self.seed, ignore_eos=self.ignore_eos, stop_token_ids=tuple(self.stop_token_ids or ()),
            repetition_penalty=self.repetition_penalty or default_repetition_penalty,
            frequency_penalty=self.frequency_penalty or 0.0, presence_penalty=self.presence_penalty or 0.0,
            logprobs=(self.top_logprobs or 0) if self.logprobs else None,
        )


# --- responses --------------------------------------------------------------------------------

def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex


def now() -> int:
    return int(time.time())


def usage(stats: GenerationStats) -> dict:
    return {"prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
            "total_tokens": stats.prompt_tokens + stats.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": stats.cached_prompt_tokens}}


def metrics(stats: GenerationStats, queue_s: float, video_decode_s: float, ttft_s: float) -> dict:
    decoded = max(stats.completion_tokens - 1, 0)
    return {
        "speculative_decoding": {
            "method": stats.method, "num_drafts": stats.num_drafts, "num_draft_tokens": stats.num_draft_tokens,
            "num_accepted_tokens": stats.num_accepted_tokens,
            "mean_acceptance_length": stats.mean_acceptance_length,
            "video_tokens": stats.video_tokens, "draft_video_tokens": stats.draft_video_tokens,
        },
        "timing": {
            "queue_s": queue_s, "video_decode_s": video_decode_s, "prefill_s": stats.prefill_s,
            "ttft_s": ttft_s, "decode_s": stats.decode_s,
            "decode_tokens_per_s": decoded / stats.decode_s if stats.decode_s > 0 else None,
        },
    }


def logprobs(tokenizer, tokens: list[TokenLogprob]) -> dict:
    """OpenAI's `choices[].logprobs`: each token's text, log-probability and UTF-8 bytes."""
    def entry(token_id: int, logprob: float) -> dict:
        text = tokenizer.decode([token_id])
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}

    return {"content": [{**entry(t.token_id, t.logprob), "top_logprobs": [entry(i, lp) for i, lp in t.top]}
                        for t in tokens]}


def chunk(cid: str, model: str, created: int, delta: dict, finish_reason: str | None = None,
          token_ids: list[int] | None = None, logprobs: dict | None = None) -> dict:
    choice = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
    if token_ids is not None:
        choice["token_ids"] = token_ids
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [choice]}
