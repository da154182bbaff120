import torch

from specvlm.spec.penalties import Penalties, TokenHistory, tree_extra
from specvlm.spec.tree import build_tree


def test_repetition_scales_prompt_and_output_tokens_by_sign():
    history = TokenHistory(Penalties(repetition=2.0), torch.tensor([0]), vocab=4, device=torch.device("cpu"))
    history.add([2])
    logits = torch.tensor([[4.0, 4.0, -4.0, -4.0]])
    assert history.apply(logits).tolist() == [[2.0, 4.0, -8.0, -4.0]]


def test_frequency_and_presence_count_output_tokens_and_tree_ancestors():
    history = TokenHistory(Penalties(frequency=0.5, presence=1.0), torch.tensor([3]), vocab=4,
                           device=torch.device("cpu"))
    history.add([1, 1])
    tree = build_tree([(0,), (1,), (0, 0)])  # root, a, b, a's child
    tokens = torch.tensor([1, 2, 3, 2])
    extra = tree_extra(tokens, torch.arange(4), tree)
    out = history.apply(torch.zeros(4, 4), extra)
    # committed: token 1 twice (the root is one of them). Node 1 adds 2; node 3 adds 2 twice.
    assert out[0].tolist() == [0.0, -2.0, 0.0, 0.0]
    assert out[1].tolist() == [0.0, -2.0, -1.5, 0.0]
    assert out[2].tolist() == [0.0, -2.0, 0.0, -1.5]  # the prompt's token 3 is not counted
    assert out[3].tolist() == [0.0, -2.0, -2.0, 0.0]


def test_inactive_penalties():
    assert not Penalties().active and Penalties(repetition=1.05).active


def test_min_tokens_bans_stop_tokens_until_each_rows_own_count_reaches_it():
    history = TokenHistory(Penalties(min_tokens=3, stop_ids=frozenset({0})), torch.tensor([2]), vocab=4,
                           device=torch.device("cpu"))
    history.add([1, 2])  # two tokens emitted, the root among them
    tree = build_tree([(0,), (0, 0)])  # root, a child, a grandchild
    out = history.apply(torch.zeros(3, 4), tree_extra(torch.tensor([2, 3, 3]), torch.arange(3), tree))
    assert out[:, 0].tolist() == [float("-inf"), 0.0, 0.0]  # after the root: 2 emitted; deeper: 3, 4
    assert (out[:, 1:] == 0).all()
