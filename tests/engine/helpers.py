"""Prompts and reference decoding shared by the engine tests."""

from __future__ import annotations

import numpy as np
import torch

from specvlm.decoding import DecodingParams, GenerationStats, generate
from specvlm.inputs import Prompt, VideoInput, build_inputs
from specvlm.media.synthetic import synthetic_frames


def image(seed: int) -> np.ndarray:
    return synthetic_frames(seed, num_frames=1, height=84, width=84)[0]


def video_prompt(question: str, seeds=(0,), num_frames: int = 8, with_image: bool = False) -> Prompt:
    parts = [{"type": "video"} for _ in seeds]
    if with_image:
        parts.append({"type": "image"})
    parts.append({"type": "text", "text": question})
    return Prompt([{"role": "user", "content": parts}],
                  videos=[VideoInput(synthetic_frames(s, num_frames)) for s in seeds],
                  images=[image(99)] if with_image else [])


def text_prompt(question: str) -> Prompt:
    return Prompt([{"role": "user", "content": [{"type": "text", "text": question}]}])


def hf_greedy(pair, inputs, max_new_tokens: int) -> list[int]:
    """The reference: transformers' own greedy generate on the target."""
    with torch.inference_mode():
        out = pair.target.model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def run(pair, inputs, **params) -> tuple[list[int], GenerationStats, list]:
    stats = GenerationStats(params.get("method", "specvlm"))
    chunks = list(generate(pair, inputs, DecodingParams(**params), stats))
    return [t for c in chunks for t in c.token_ids], stats, chunks


def inputs_for(pair, prompt: Prompt):
    return build_inputs(pair.processor, prompt)
