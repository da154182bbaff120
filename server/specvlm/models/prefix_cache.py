"""Target KV caches of prompt prefixes that end with a video, reused by later requests.

A chat's next turn resends the whole conversation, video included, so its prompt repeats the
previous one up to the end of the video. The target's KV cache of that prefix (the most
expensive prefill there is, and the vision tower's work behind it) is kept here under a
digest of everything it depends on: the prefix's token ids and every vision input the
processor produced (pixel values, grids, frame timing). Only a prefix that ends with the last
video token and is followed by text is kept: the text after the video is what SpecVLM's
pruning scores come from, so it is always computed fresh. The draft's vision features of the
prompt's videos are kept with it, so a hit runs neither model's vision tower on the videos.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from .kv import new_cache

_VISION_INPUTS = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "pixel_values", "image_grid_thw",
                  "image_sizes", "batch_num_images")


def video_prefix_length(input_ids: torch.Tensor, video_token_id: int) -> int | None:
    """Tokens up to and including the last video token, if text follows it."""
    positions = (input_ids.flatten() == video_token_id).nonzero()
    if not positions.numel() or int(positions[-1]) + 1 >= input_ids.numel():
        return None
    return int(positions[-1]) + 1


def prefix_key(inputs, video_token_id: int) -> str | None:
    """Digest of what the target's KV cache of the video prefix depends on; None without one.
    Hashing the processed pixels (not the request's media) keeps the key exact whatever
    decoding, sampling or resizing produced them."""
    length = video_prefix_length(inputs["input_ids"], video_token_id)
    if length is None:
        return None
    digest = hashlib.blake2b(digest_size=32)
    digest.update(inputs["input_ids"].flatten()[:length].numpy().tobytes())
    # the pixels are hashed in place (no copy): about 0.1 s per 140 MB (32 large frames)
    for name in _VISION_INPUTS:
        value = inputs.get(name)
        if torch.is_tensor(value):
            digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
            digest.update(value.reshape(-1).contiguous().view(torch.uint8).numpy().data)
        elif value is not None:
            digest.update(f"{name}:{value!r}".encode())
    return digest.hexdigest()


@dataclass
class _Entry:
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # keys and values of each layer, prefix only
    length: int
    nbytes: int
    draft_video: torch.Tensor | None = None  # the draft's vision features of the prompt's videos


@dataclass(frozen=True)
class CachedPrefix:
    cache: DynamicCache  # the request's own copy of the target's prefix cache
    draft_video: torch.Tensor | None  # the draft's video features, when stored


class PrefixCache:
    """Least recently used prefixes within a byte budget. Used by the worker thread only."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @torch.inference_mode()
    def restore(self, key: str, text_config) -> CachedPrefix | None:
        """A new cache holding a copy of the stored prefix (the request extends its own copy)."""
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        cache = new_cache(text_config)
        for layer, (keys, values) in zip(cache.layers, entry.layers):
            layer.update(keys, values)
        return CachedPrefix(cache, entry.draft_video)

    @torch.inference_mode()
    def store(self, key: str, cache: DynamicCache, length: int) -> None:
        layers = [(layer.keys[..., :length, :].clone(), layer.values[..., :length, :].clone())
                  for layer in cache.layers]
        nbytes = sum(k.nbytes + v.nbytes for k, v in layers)
        if nbytes > self.max_bytes or key in self._entries:
            return
        self._make_room(nbytes)
        self._entries[key] = _Entry(layers, length, nbytes)
        self.nbytes += nbytes

    @torch.inference_mode()
    def store_draft_video(self, key: str, features: torch.Tensor) -> None:
        """Add the draft's video features to the entry of `key`, if it is (still) there."""
        entry = self._entries.get(key)
        if entry is None or entry.draft_video is not None or entry.nbytes + features.nbytes > self.max_bytes:
            return
        self._entries.move_to_end(key)  # the oldest others make room, never this one
        self._make_room(features.nbytes)
        entry.draft_video = features.clone()
        entry.nbytes += features.nbytes
        self.nbytes += features.nbytes

    def _make_room(self, nbytes: int) -> None:
        while self.nbytes + nbytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.nbytes -= evicted.nbytes
