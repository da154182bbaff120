import torch

from specvlm.spec.tree import build_tree, chain
from specvlm.spec.verify import greedy_accept

TREE = build_tree([(0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0)])
# node order: root, (0,), (1,), (0,0), (0,1), (1,0), (0,0,0)


def test_accepts_longest_matching_path_and_adds_bonus():
    tokens = torch.tensor([5, 7, 8, 9, 3, 4, 6])
    # target: after root 8, after (1,) -> 4, after (1,0) -> 42
    argmax = torch.tensor([8, 0, 4, 0, 0, 42, 0])
    acc = greedy_accept(tokens, argmax, TREE)
    assert acc.path == [0, 2, 5]
    assert acc.tokens == [8, 4, 42]
    assert acc.num_accepted == 2


def test_no_match_yields_only_the_bonus_token():
    tokens = torch.tensor([5, 7, 8, 9, 3, 4, 6])
    argmax = torch.tensor([1, 2, 3, 4, 5, 6, 7])
    acc = greedy_accept(tokens, argmax, TREE)
    assert acc.path == [0] and acc.tokens == [1] and acc.num_accepted == 0


def test_child_of_rejected_node_is_not_accepted():
    tokens = torch.tensor([5, 7, 8, 9, 3, 4, 6])
    # (0,0) would match its parent's argmax, but (0,) itself is rejected
    argmax = torch.tensor([8, 9, 0, 0, 0, 0, 0])
    acc = greedy_accept(tokens, argmax, TREE)
    assert acc.path == [0, 2]
    assert acc.tokens == [8, 0]


def test_full_chain_acceptance():
    tree = build_tree(chain(3))
    tokens = torch.tensor([1, 2, 3, 4])
    argmax = torch.tensor([2, 3, 4, 99])
    acc = greedy_accept(tokens, argmax, tree)
    assert acc.tokens == [2, 3, 4, 99] and acc.num_accepted == 3
