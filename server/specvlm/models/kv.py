"""KV caches that grow in place, and the surgery a verification step needs.

transformers' DynamicLayer appends with torch.cat, copying the whole cache at every
forward; with a long video that copy costs as much memory traffic as the attention itself.
GrowableLayer keeps keys and values in a buffer with spare room: appends write in place,
and dropping rejected tree nodes only moves the few accepted ones.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

# Spare room added when a buffer grows: at least this many tokens, or 1/8 of the cache.
_MIN_HEADROOM = 512


class GrowableLayer(DynamicLayer):
    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        self.length = 0
        self._key_buffer = self._value_buffer = None

    def _reserve(self, needed: int, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        capacity = 0 if self._key_buffer is None else self._key_buffer.shape[-2]
        if needed <= capacity:
            return
        capacity = needed + max(_MIN_HEADROOM, needed // 8)
        keys = key_states.new_empty(*key_states.shape[:-2], capacity, key_states.shape[-1])
        values = value_states.new_empty(*value_states.shape[:-2], capacity, value_states.shape[-1])
        if self.length:
            keys[..., : self.length, :] = self._key_buffer[..., : self.length, :]
            values[..., : self.length, :] = self._value_buffer[..., : self.length, :]
        self._key_buffer, self._value_buffer = keys, values

    def _publish(self) -> None:
        self.keys = self._key_buffer[..., : self.length, :]
        self.values = self._value_buffer[..., : self.length, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        start, end = self.length, self.length + key_states.shape[-2]
        self._reserve(end, key_states, value_states)
        self._key_buffer[..., start:end, :] = key_states
        self._value_buffer[..., start:end, :] = value_states
        self.length = end
        self._publish()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length if self.is_initialized else 0

    def truncate(self, length: int) -> None:
        if self.is_initialized:
            self.length = min(self.length, length)
            self._publish()

    def keep_after(self, prefix_len: int, offsets: torch.Tensor) -> None:
        """Keep the first `prefix_len` tokens, then the tokens at `prefix_len + offsets`."""
        if not self.is_initialized:
            return
        source = prefix_len + offsets.to(self._key_buffer.device)
        end = prefix_len + offsets.numel()
        # gather first: source and destination ranges may overlap
        self._key_buffer[..., prefix_len:end, :] = self._key_buffer[..., source, :]
        self._value_buffer[..., prefix_len:end, :] = self._value_buffer[..., source, :]
        self.length = end
        self._publish()


def new_cache(text_config) -> DynamicCache:
    cache = DynamicCache(config=text_config)
    if any(type(layer) is not DynamicLayer for layer in cache.layers):
        raise ValueError("checkpoints with sliding-window attention layers are not supported")
    cache.layers = [GrowableLayer() for _ in cache.layers]
    return cache


@torch.inference_mode()  # the buffers are inference tensors, made during forward
def keep_tree_path(cache: DynamicCache, prefix_len: int, path: torch.Tensor) -> None:
    """Keep the committed prefix plus the tree nodes on the accepted `path` (node offsets
    after the prefix, in order); drop every other tree node."""
    for layer in cache.layers:
        layer.keep_after(prefix_len, path)


@torch.inference_mode()
def truncate(cache: DynamicCache, length: int) -> None:
    """Forget everything after the first `length` tokens."""
    for layer in cache.layers:
        layer.truncate(length)
