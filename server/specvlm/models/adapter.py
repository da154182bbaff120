"""One adapter per model family over the stock transformers classes.

The adapter is the only place that knows a family's quirks: how images and videos become
rows of the input embeddings, how positions look (M-RoPE for Qwen2.5-VL: three axes), and
how to run the language model with an explicit mask, positions and KV cache.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .kv import new_cache

FAMILIES = {"qwen2_5_vl": "qwen", "llava_onevision": "llava"}


@dataclass
class PromptEmbedding:
    embeds: torch.Tensor  # [1, L, hidden]
    positions: torch.Tensor  # [axes, L] (3 axes for M-RoPE, else 1)
    video_mask: torch.Tensor  # [L] bool: video placeholder rows

    @property
    def next_position(self) -> int:
        return int(self.positions.max()) + 1 if self.positions.numel() else 0


class ModelAdapter:
    def __init__(self, model, family: str, vocab_limit: int):
        self.model = model
        self.family = family
        self.kind = FAMILIES[family]
        self.config = model.config
        self.text_config = model.config.get_text_config()
        self.vocab_limit = vocab_limit  # rows of the logits that are real tokenizer entries
        self.video_token_id = self.config.video_token_id
        self.image_token_id = self.config.image_token_id
        self.position_axes = 3 if self.kind == "qwen" else 1
        # transformers 5.24 renamed `past_key_values` to `cache`
        self._cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    def new_cache(self) -> DynamicCache:
        return new_cache(self.text_config)

    # --- prompt -------------------------------------------------------------------------
    @torch.inference_mode()  # no autograd graph over the vision tower's activations
    def embed_prompt(self, inputs, video_features: bool | torch.Tensor = True) -> PromptEmbedding:
        """Token embeddings with this model's own vision features scattered into the
        image and video placeholder rows, plus the prompt's positions.

        `video_features`: False leaves the video rows as placeholder embeddings (a prefix
        whose KV cache is reused never runs them); a tensor gives the video features this
        model computed for the same inputs before (prefix cache)."""
        input_ids = inputs["input_ids"].to(self.device)
        embeds = self.model.get_input_embeddings()(input_ids)
        if torch.is_tensor(video_features):
            videos = video_features
        else:
            videos = self._video_features(inputs) if video_features else None
        for token_id, features in ((self.image_token_id, self._image_features(inputs)),
                                   (self.video_token_id, videos)):
            if features is None:
                continue
            rows = input_ids[0] == token_id
            if int(rows.sum()) != features.shape[0]:
                raise ValueError(f"prompt has {int(rows.sum())} placeholder tokens for {features.shape[0]} "
                                 "vision features; the processor and model configs disagree")
            embeds[0, rows] = features.to(embeds.dtype)
        return PromptEmbedding(embeds, self._prompt_positions(inputs, input_ids),
                               input_ids[0] == self.video_token_id)

    def _pixels(self, inputs, key):
        value = inputs.get(key)
        return None if value is None else value.to(self.device, self.dtype)

    def _video_features(self, inputs) -> torch.Tensor | None:
        pixels = self._pixels(inputs, "pixel_values_videos")
        if pixels is None:
            return None
        inner = self.model.model
        if self.kind == "qwen":
            out = inner.get_video_features(pixels, inputs["video_grid_thw"].to(self.device), return_dict=True)
            return torch.cat(out.pooler_output, dim=0)
        return inner.get_video_features(pixels, return_dict=True).pooler_output.flatten(0, 1)

    def _image_features(self, inputs) -> torch.Tensor | None:
        pixels = self._pixels(inputs, "pixel_values")
        if pixels is None:
            return None
        inner = self.model.model
        if self.kind == "qwen":
            out = inner.get_image_features(pixels, inputs["image_grid_thw"].to(self.device), return_dict=True)
            return torch.cat(out.pooler_output, dim=0)
        out = inner.get_image_features(pixels, inputs["image_sizes"].to(self.device),
                                       batch_num_images=inputs.get("batch_num_images"), return_dict=True)
        return torch.cat(out.pooler_output, dim=0)

    def _prompt_positions(self, inputs, input_ids) -> torch.Tensor:
        length = input_ids.shape[1]
        if self.kind == "qwen" and (inputs.get("image_grid_thw") is not None
                                    or inputs.get("video_grid_thw") is not None):
            def on_device(key):
                value = inputs.get(key)
                return None if value is None else value.to(self.device)
            positions, _ = self.model.model.get_rope_index(
                input_ids, mm_token_type_ids=on_device("mm_token_type_ids"),
                image_grid_thw=on_device("image_grid_thw"), video_grid_thw=on_device("video_grid_thw"),
                second_per_grid_ts=on_device("second_per_grid_ts"),
                attention_mask=on_device("attention_mask"),
            )
            return positions[:, 0]
        return self.text_positions(torch.arange(length, device=self.device))

    def text_positions(self, positions: torch.Tensor) -> torch.Tensor:
        """Positions of text tokens: the same index on every axis."""
        return positions.to(self.device)[None].expand(self.position_axes, -1)

    # --- language model ---------------------------------------------------------------------
    @torch.inference_mode()
    def forward(self, cache: DynamicCache, positions: torch.Tensor, *, token_ids: torch.Tensor | None = None,
                embeds: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                last_only: bool = False, video_attention=None) -> torch.Tensor:
        """Run new tokens (ids or embeddings) after `cache`; returns logits [n, vocab].

        `attention_mask` is an explicit [1, 1, n, cached + n] bool mask (tree attention);
        None means causal.
        """
        if embeds is None:
            embeds = self.model.get_input_embeddings()(token_ids.to(self.device)[None])
        position_ids = positions[:, None] if self.kind == "qwen" else positions
        extra = {self._cache_arg: cache}
        if video_attention is not None:
            extra["video_attention"] = video_attention
        out = self.model(inputs_embeds=embeds, position_ids=position_ids, attention_mask=attention_mask,
                         use_cache=True, logits_to_keep=1 if last_only else 0, **extra)
        return out.logits[0]
