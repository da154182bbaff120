"""Typed views of the server's JSON objects.

Known fields are attributes (None when the server left them out); the whole JSON object stays
in `.raw`, so fields this client does not know yet are still reachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, TypeVar

_T = TypeVar("_T", bound="_JSONObject")


class _JSONObject:
    # Fields holding nested objects, with how to convert their JSON.
    _nested: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    @classmethod
    def from_dict(cls: type[_T], data: dict[str, Any]) -> _T:
        values = {f.name: data.get(f.name) for f in fields(cls) if f.name != "raw"}  # type: ignore[arg-type]
        values.update({name: convert(data.get(name)) for name, convert in cls._nested.items()}, raw=data)
        return cls(**values)


def _optional(cls: type[_JSONObject]) -> Callable[[Any], Any]:
    return lambda value: cls.from_dict(value) if isinstance(value, dict) else None


def _always(cls: type[_JSONObject]) -> Callable[[Any], Any]:
    return lambda value: cls.from_dict(value if isinstance(value, dict) else {})


def _list_of(cls: type[_JSONObject]) -> Callable[[Any], Any]:
    return lambda value: [cls.from_dict(item) for item in value or []]


@dataclass(frozen=True)
class Usage(_JSONObject):
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    prompt_tokens_details: dict[str, Any] | None  # {"cached_tokens": prompt tokens served from the prefix cache}
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SpeculativeDecoding(_JSONObject):
    method: str | None
    num_drafts: int | None
    num_draft_tokens: int | None
    num_accepted_tokens: int | None
    mean_acceptance_length: float | None  # tokens emitted per verification step, bonus token included
    video_tokens: int | None
    draft_video_tokens: int | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Timing(_JSONObject):
    queue_s: float | None
    video_decode_s: float | None
    prefill_s: float | None
    ttft_s: float | None
    decode_s: float | None
    decode_tokens_per_s: float | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Metrics(_JSONObject):
    speculative_decoding: SpeculativeDecoding | None
    timing: Timing | None
    raw: dict[str, Any] = field(repr=False)
    _nested = {"speculative_decoding": _optional(SpeculativeDecoding), "timing": _optional(Timing)}


@dataclass(frozen=True)
class Message(_JSONObject):
    role: str | None
    content: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TopLogprob(_JSONObject):
    token: str | None
    logprob: float | None
    bytes: list[int] | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class TokenLogprob(_JSONObject):
    token: str | None
    logprob: float | None  # the target model's, from its raw logits
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]
    raw: dict[str, Any] = field(repr=False)
    _nested = {"top_logprobs": _list_of(TopLogprob)}


@dataclass(frozen=True)
class ChoiceLogprobs(_JSONObject):
    content: list[TokenLogprob]
    raw: dict[str, Any] = field(repr=False)
    _nested = {"content": _list_of(TokenLogprob)}


@dataclass(frozen=True)
class Choice(_JSONObject):
    index: int | None
    message: Message
    finish_reason: str | None
    logprobs: ChoiceLogprobs | None  # only when requested with `logprobs=True`
    token_ids: list[int] | None  # only with the `return_token_ids` extension
    raw: dict[str, Any] = field(repr=False)
    _nested = {"message": _always(Message), "logprobs": _optional(ChoiceLogprobs)}


@dataclass(frozen=True)
class ChatCompletion(_JSONObject):
    id: str | None
    object: str | None
    created: int | None
    model: str | None
    choices: list[Choice]
    usage: Usage | None
    metrics: Metrics | None
    raw: dict[str, Any] = field(repr=False)
    _nested = {"choices": _list_of(Choice), "usage": _optional(Usage), "metrics": _optional(Metrics)}


@dataclass(frozen=True)
class Delta(_JSONObject):
    role: str | None
    content: str | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ChunkChoice(_JSONObject):
    index: int | None
    delta: Delta
    finish_reason: str | None
    logprobs: ChoiceLogprobs | None
    token_ids: list[int] | None
    raw: dict[str, Any] = field(repr=False)
    _nested = {"delta": _always(Delta), "logprobs": _optional(ChoiceLogprobs)}


@dataclass(frozen=True)
class ChatCompletionChunk(_JSONObject):
    """One streamed event; with `include_usage` the last has no choices but `usage` and `metrics`."""

    id: str | None
    object: str | None
    created: int | None
    model: str | None
    choices: list[ChunkChoice]
    usage: Usage | None
    metrics: Metrics | None
    raw: dict[str, Any] = field(repr=False)
    _nested = ChatCompletion._nested | {"choices": _list_of(ChunkChoice)}


@dataclass(frozen=True)
class Model(_JSONObject):
    id: str | None
    object: str | None
    created: int | None
    owned_by: str | None
    max_model_len: int | None
    raw: dict[str, Any] = field(repr=False)
