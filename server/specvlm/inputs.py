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


def build_inputs(processor, prompt: Prompt, processor_kwargs: dict | None = None):
    """The processor's BatchFeature (input_ids, pixel values, grids) for a batch of one."""
    text = processor.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)
    kwargs = dict(processor_kwargs or {})
    if prompt.videos:
        kwargs["videos"] = [video.frames for video in prompt.videos]
        if all(video.metadata for video in prompt.videos):
            kwargs["video_metadata"] = [video.metadata for video in prompt.videos]
    if prompt.images:
        kwargs["images"] = list(prompt.images)
    return processor(text=[text], return_tensors="pt", **kwargs)
