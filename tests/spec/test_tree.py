import pytest
import torch

from specvlm.spec.tree import DEFAULT_TREE, build_tree, chain, fill_children, tree_attention_mask


def test_default_tree_shape():
    tree = build_tree(DEFAULT_TREE)
    assert tree.num_nodes == 26  # 25 nodes + the root
    assert tree.max_depth == 5
    assert tree.top_k == 4
    assert tree.level_ranges == ((1, 5), (5, 13), (13, 21), (21, 24), (24, 26))


def test_parents_depths_and_ancestor_mask():
    tree = build_tree([(0,), (1,), (0, 0), (0, 1), (1, 0), (0, 0, 0)])
    # node order: root, (0,), (1,), (0,0), (0,1), (1,0), (0,0,0)
    assert tree.parent.tolist() == [-1, 0, 0, 1, 1, 2, 3]
    assert tree.depth.tolist() == [0, 1, 1, 2, 2, 2, 3]
    assert tree.rank.tolist() == [0, 0, 1, 0, 1, 0, 0]
    assert tree.has_children.tolist() == [True, True, True, True, False, False, False]
    mask = tree.ancestor_mask.int().tolist()
    assert mask[6] == [1, 1, 0, 1, 0, 0, 1]  # (0,0,0) sees root, (0,), (0,0), itself
    assert mask[5] == [1, 0, 1, 0, 0, 1, 0]  # (1,0) sees root, (1,), itself
    assert mask[0] == [1, 0, 0, 0, 0, 0, 0]


def test_chain_is_a_single_path():
    tree = build_tree(chain(5))
    assert tree.parent.tolist() == [-1, 0, 1, 2, 3, 4]
    assert tree.ancestor_mask.equal(torch.tril(torch.ones(6, 6, dtype=torch.bool)))
    assert tree.top_k == 1


def test_missing_parent_is_refused():
    with pytest.raises(ValueError, match="no parent"):
        build_tree([(0,), (1, 0)])


def test_attention_mask_sees_the_prefix_and_ancestors_only():
    tree = build_tree([(0,), (1,), (0, 0)])
    rows = torch.tensor([3])  # node (0,0)
    columns = torch.tensor([1, 2, 3])  # draft cache holds depth-1 nodes, then this one
    mask = tree_attention_mask(4, rows, columns, tree)
    assert mask.shape == (1, 1, 1, 7)
    assert mask[0, 0, 0].tolist() == [True] * 4 + [True, False, True]


def test_fill_children_writes_ranked_guesses_of_each_parent():
    tree = build_tree([(0,), (1,), (0, 0), (0, 1), (1, 0)])
    tokens = torch.zeros(tree.num_nodes, dtype=torch.long)
    parent_row = torch.zeros(tree.num_nodes, dtype=torch.long)
    fill_children(tokens, tree.level_ranges[0], torch.tensor([[10, 11]]), parent_row, tree)
    assert tokens[1:3].tolist() == [10, 11]
    parent_row[torch.tensor([1, 2])] = torch.tensor([0, 1])
    fill_children(tokens, tree.level_ranges[1], torch.tensor([[20, 21], [30, 31]]), parent_row, tree)
    assert tokens[3:].tolist() == [20, 21, 30]


def test_gapped_ranks_take_top_k_guesses_by_rank_and_draws_by_sibling_order():
    tree = build_tree([(0,), (2,), (2, 1)])  # root's children hold ranks 0 and 2
    assert tree.children == ((1, 2), (), (3,), ())
    assert tree.sibling.tolist() == [0, 0, 1, 0]
    assert tree.top_k == 3 and tree.max_children == 2
    tokens = torch.zeros(tree.num_nodes, dtype=torch.long)
    parent_row = torch.zeros(tree.num_nodes, dtype=torch.long)
    fill_children(tokens, tree.level_ranges[0], torch.tensor([[10, 11, 12]]), parent_row, tree)
    assert tokens[1:3].tolist() == [10, 12]  # top-k: rank 2 is the third best guess
    fill_children(tokens, tree.level_ranges[0], torch.tensor([[10, 11]]), parent_row, tree, by_sibling=True)
    assert tokens[1:3].tolist() == [10, 11]  # draws: the second child takes the second draw
