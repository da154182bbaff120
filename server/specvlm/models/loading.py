"""Load a target/draft pair from local HF checkpoint directories or hub ids."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import attention  # noqa: F401  (registers the attention implementation)
from .adapter import FAMILIES, ModelAdapter

# Config fields that must agree for the draft to read the target's processed inputs.
_SHARED_VISION_FIELDS = {
    "qwen": ("patch_size", "spatial_merge_size", "temporal_patch_size"),
    "llava": ("image_size", "patch_size"),
}


class IncompatiblePairError(ValueError):
    """The draft cannot serve this target (different family, tokenizer or vision grid)."""


def resolve_device(device: str | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | None, device: torch.device) -> torch.dtype:
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, bfloat16, float16 or float32") from None


def model_family(config) -> str:
    family = getattr(config, "model_type", None)
    if family not in FAMILIES:
        raise ValueError(f"model type {family!r} is not supported; supported: {', '.join(FAMILIES)}")
    return family


def load_model(path: str, device: torch.device, dtype: torch.dtype):
    """(model, processor) through the stock Auto classes; the weights stay as stored."""
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    family = model_family(AutoConfig.from_pretrained(path))
    model = AutoModelForImageTextToText.from_pretrained(
        path, dtype=dtype, attn_implementation=attention.ATTENTION_IMPLEMENTATION
    ).to(device).eval()
    processor = AutoProcessor.from_pretrained(path)
    return family, model, processor


@dataclass
class ModelPair:
    target: ModelAdapter
    draft: ModelAdapter | None
    processor: object  # the target's processor: both models read its outputs

    @property
    def tokenizer(self):
        return self.processor.tokenizer

    @property
    def max_model_len(self) -> int:
        return int(self.target.text_config.max_position_embeddings)

    @property
    def default_repetition_penalty(self) -> float:
        """The checkpoint's own (Qwen2.5-VL ships 1.05), which transformers' generate applies."""
        return float(getattr(self.target.model.generation_config, "repetition_penalty", None) or 1.0)


def check_compatible(target_family, target_model, target_tok, draft_family, draft_model, draft_tok) -> None:
    if FAMILIES[target_family] != FAMILIES[draft_family]:
        raise IncompatiblePairError(f"draft family {draft_family} cannot draft for target family {target_family}")
    if target_tok.get_vocab() != draft_tok.get_vocab():
        raise IncompatiblePairError("target and draft tokenizers differ; speculative decoding needs one "
                                    "shared tokenizer (use a draft from the same model family and release)")
    for field in ("video_token_id", "image_token_id"):
        if getattr(target_model.config, field) != getattr(draft_model.config, field):
            raise IncompatiblePairError(f"target and draft disagree on {field}")
    for field in _SHARED_VISION_FIELDS[FAMILIES[target_family]]:
        t, d = (getattr(m.config.vision_config, field, None) for m in (target_model, draft_model))
        if t != d:
            raise IncompatiblePairError(f"target and draft vision configs differ in {field} ({t} vs {d}): "
                                        "their video token grids would not line up")


def load_pair(target: str, draft: str | None, device: str | None = None, dtype: str | None = None) -> ModelPair:
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    target_family, target_model, processor = load_model(target, dev, dt)
    vocab = len(processor.tokenizer)
    target_adapter = ModelAdapter(target_model, target_family, min(vocab, target_model.config.get_text_config().vocab_size))
    draft_adapter = None
    if draft is not None:
        draft_family, draft_model, draft_processor = load_model(draft, dev, dt)
        check_compatible(target_family, target_model, processor.tokenizer,
                         draft_family, draft_model, draft_processor.tokenizer)
        # Sizes of one family pad their vocabularies differently: the draft only proposes
        # ids that both the tokenizer and the target know.
        limit = min(vocab, draft_model.config.get_text_config().vocab_size,
                    target_model.config.get_text_config().vocab_size)
        draft_adapter = ModelAdapter(draft_model, draft_family, limit)
    return ModelPair(target_adapter, draft_adapter, processor)
