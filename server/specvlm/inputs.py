"""Chat messages plus decoded media -> the target processor's tensors for one prompt."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class VideoInput:
    frames: np.ndarray  # [T, H, W, 3] uint8, already sampled
    # transformers VideoMetadata fields (fps, total_num_frames, frames_indices, duration, ...):
    # Qwen2.5-VL turns the sampled frames' timing into its temporal positions.
    metadata: dict | None = None


@dataclass
class Prompt:
    # HF chat format: content parts {"type": "text", "text": ...}, {"type": "video"}, {"type": "image"},
    # with the media, in order of appearance, in `videos` and `images`.
    messages: list[dict]
    videos: list[VideoInput] = field(default_factory=list)
    images: list = field(default_factory=list)  # PIL images or [H, W, 3] uint8 arrays


def _pixel_limits(processor, limits: dict) -> dict:
    """min_pixels/max_pixels as the `size` of processors that resize by pixel count (Qwen2.5-VL)."""
    default = getattr(getattr(processor, "video_processor", None), "size", None) or {}
    if "longest_edge" not in default:
        raise ValueError("min_pixels/max_pixels apply only to models that resize by pixel count (Qwen2.5-VL)")
    size = {"shortest_edge": default["shortest_edge"], "longest_edge": default["longest_edge"]}
    size["longest_edge"] = limits.get("max_pixels", size["longest_edge"])
    # a lower ceiling also lowers the default floor; an explicit floor above it is an error
    size["shortest_edge"] = limits.get("min_pixels", min(size["shortest_edge"], size["longest_edge"]))
    if size["shortest_edge"] > size["longest_edge"]:
        raise ValueError("min_pixels must not exceed max_pixels")
    return {"size": size}


def build_inputs(processor, prompt: Prompt, pixel_limits: dict | None = None):
    """The processor's BatchFeature (input_ids, pixel values, grids) for a batch of one.

    `pixel_limits`: optional {"min_pixels", "max_pixels"} per image or frame.
    """
    text = processor.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)
    kwargs = _pixel_limits(processor, pixel_limits) if pixel_limits else {}
    if prompt.videos:
        kwargs["videos"] = [video.frames for video in prompt.videos]
        if all(video.metadata for video in prompt.videos):
            kwargs["video_metadata"] = [video.metadata for video in prompt.videos]
    if prompt.images:
        kwargs["images"] = list(prompt.images)
    return processor(text=[text], return_tensors="pt", **kwargs)
