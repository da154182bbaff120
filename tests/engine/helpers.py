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


def hf_greedy(pair, inputs, max_new_tokens: int, **generate_kwargs) -> list[int]:
    """The reference: transformers' own greedy generate on the target (on its device)."""
    on_device = {k: v.to(pair.target.model.device) if torch.is_tensor(v) else v for k, v in inputs.items()}
    with torch.inference_mode():
        out = pair.target.model.generate(**on_device, do_sample=False, max_new_tokens=max_new_tokens,
                                         **generate_kwargs)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


def hf_logits(pair, inputs, tokens: list[int]) -> torch.Tensor:
    """[len(tokens), V]: HF's target logits that predict each of `tokens`, which follow the prompt
    (one teacher-forced forward; row 0 comes from the prompt alone)."""
    length = inputs["input_ids"].shape[1]
    extended = dict(inputs, input_ids=torch.cat([inputs["input_ids"], torch.tensor([tokens], dtype=torch.long)], 1))
    for name, value in inputs.items():  # per-token side inputs: new text tokens are attended, of type 0
        if name != "input_ids" and torch.is_tensor(value) and value.shape == (1, length):
            extended[name] = torch.cat([value, torch.full((1, len(tokens)), int(name == "attention_mask"),
                                                          dtype=value.dtype)], dim=1)
    with torch.inference_mode():
        logits = pair.target.model(**extended).logits
    return logits[0, length - 1: length - 1 + len(tokens)]


def run(pair, inputs, prefix_cache=None, prefix_key=None, **params) -> tuple[list[int], GenerationStats, list]:
    stats = GenerationStats(params.get("method", "specvlm"))
    chunks = list(generate(pair, inputs, DecodingParams(**params), stats, prefix_cache, prefix_key))
    return [t for c in chunks for t in c.token_ids], stats, chunks


def inputs_for(pair, prompt: Prompt):
    return build_inputs(pair.processor, prompt)
