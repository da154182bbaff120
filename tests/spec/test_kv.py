import torch

from specvlm.models.kv import GrowableLayer


def _states(n, start=0):
    base = torch.arange(start, start + n, dtype=torch.float32)
    return base.view(1, 1, n, 1).expand(1, 2, n, 3).clone()


def test_appends_in_place_and_grows():
    layer = GrowableLayer()
    keys, _ = layer.update(_states(5), _states(5))
    buffer = layer._key_buffer
    keys, values = layer.update(_states(3, 5), _states(3, 5))
    assert layer._key_buffer is buffer  # no reallocation within the headroom
    assert keys[0, 0, :, 0].tolist() == list(range(8)) and layer.get_seq_length() == 8
    big = buffer.shape[-2]
    keys, _ = layer.update(_states(big, 8), _states(big, 8))
    assert keys[0, 1, :, 2].tolist() == list(range(8 + big))


@torch.inference_mode()
def test_truncate_and_keep_after():
    layer = GrowableLayer()
    layer.update(_states(10), _states(10))
    layer.keep_after(4, torch.tensor([0, 2, 5]))
    assert layer.keys[0, 0, :, 0].tolist() == [0, 1, 2, 3, 4, 6, 9]
    assert layer.values[0, 1, :, 1].tolist() == [0, 1, 2, 3, 4, 6, 9]
    layer.truncate(3)
    assert layer.keys[0, 0, :, 0].tolist() == [0, 1, 2]
    keys, _ = layer.update(_states(1, 42), _states(1, 42))
    assert keys[0, 0, :, 0].tolist() == [0, 1, 2, 42]
