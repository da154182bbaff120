"""Static draft trees as flat buffers (EAGLE-style).

A tree is given by paths of top-k ranks, e.g. (0,), (1,), (0, 0): node (0, 0) is the draft's
best guess after its best first guess. Node 0 is the root: the last committed token, which
the target has not processed yet. Nodes are ordered by depth, then by path, so a node's
ancestors always come before it and each depth is a contiguous range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# SpecVLM/EAGLE reference tree: 25 nodes, depth 5.
DEFAULT_TREE: tuple[tuple[int, ...], ...] = (
    (0,), (1,), (2,), (3,),
    (0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0),
    (0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0), (0, 1, 1), (0, 2, 0), (0, 2, 1), (1, 0, 0),
    (0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 0, 2),
    (0, 0, 0, 0, 0), (0, 0, 0, 0, 1),
)


def chain(depth: int) -> tuple[tuple[int, ...], ...]:
    """A single path of the draft's top-1 guesses."""
    return tuple((0,) * d for d in range(1, depth + 1))


TREE_SHAPES = {"tree": DEFAULT_TREE, "chain": chain(5)}


@dataclass(frozen=True)
class TreeBuffers:
    paths: tuple[tuple[int, ...], ...]  # rank path of node i + 1
    parent: torch.Tensor  # [n] parent node index; -1 for the root
    depth: torch.Tensor  # [n] 0 for the root
    rank: torch.Tensor  # [n] which top-k child of its parent; 0 for the root
    sibling: torch.Tensor  # [n] place among its parent's children in rank order; 0 for the root
    ancestor_mask: torch.Tensor  # [n, n] bool: column j is an ancestor of row i, or i itself
    level_ranges: tuple[tuple[int, int], ...]  # [start, end) node range of depth 1, 2, ...
    has_children: torch.Tensor  # [n] bool
    top_k: int  # draft guesses a node needs (its children's highest rank + 1)
    children: tuple[tuple[int, ...], ...]  # node i's children in rank order

    @property
    def num_nodes(self) -> int:
        return self.parent.numel()

    @property
    def max_children(self) -> int:
        return max(map(len, self.children))

    @property
    def max_depth(self) -> int:
        return len(self.level_ranges)

    def to(self, device: torch.device | str) -> "TreeBuffers":
        move = lambda t: t.to(device)  # noqa: E731
        return TreeBuffers(self.paths, move(self.parent), move(self.depth), move(self.rank), move(self.sibling),
                           move(self.ancestor_mask), self.level_ranges, move(self.has_children), self.top_k,
                           self.children)


def build_tree(paths) -> TreeBuffers:
    paths = sorted({tuple(int(r) for r in p) for p in paths}, key=lambda p: (len(p), p))
    if not paths:
        raise ValueError("a draft tree needs at least one node")
    index = {(): 0}
    for i, path in enumerate(paths, start=1):
        if any(r < 0 for r in path):
            raise ValueError(f"tree path {path} has a negative rank")
        if path[:-1] not in index:
            raise ValueError(f"tree path {path} has no parent {path[:-1]} in the tree")
        index[path] = i
    n = len(paths) + 1
    parent = torch.full((n,), -1, dtype=torch.long)
    depth = torch.zeros(n, dtype=torch.long)
    rank = torch.zeros(n, dtype=torch.long)
    ancestor_mask = torch.eye(n, dtype=torch.bool)
    for path, i in index.items():
        if not path:
            continue
        parent[i] = index[path[:-1]]
        depth[i] = len(path)
        rank[i] = path[-1]
        for d in range(len(path)):
            ancestor_mask[i, index[path[:d]]] = True
    has_children = torch.zeros(n, dtype=torch.bool)
    has_children[parent[1:]] = True
    children = tuple(tuple(i for i in range(1, n) if parent[i] == node) for node in range(n))  # ranks ascend
    sibling = torch.zeros(n, dtype=torch.long)
    for kids in children:
        sibling[list(kids)] = torch.arange(len(kids))
    max_depth = int(depth.max())
    level_ranges = tuple(
        (int((depth < d).sum()), int((depth <= d).sum())) for d in range(1, max_depth + 1)
    )
    return TreeBuffers(tuple(paths), parent, depth, rank, sibling, ancestor_mask, level_ranges,
                       has_children, int(rank.max()) + 1, children)


def tree_attention_mask(prefix_len: int, rows: torch.Tensor, columns: torch.Tensor,
                        tree: TreeBuffers) -> torch.Tensor:
    """[1, 1, len(rows), prefix_len + len(columns)] bool mask: every row sees the whole
    committed prefix, and among tree nodes (cached in `columns` order) only its ancestors."""
    tree_part = tree.ancestor_mask[rows][:, columns]
    prefix = torch.ones(rows.numel(), prefix_len, dtype=torch.bool, device=tree_part.device)
    return torch.cat([prefix, tree_part], dim=1)[None, None]


def fill_children(tokens: torch.Tensor, level: tuple[int, int], guesses: torch.Tensor,
                  parent_row: torch.Tensor, tree: TreeBuffers, by_sibling: bool = False) -> None:
    """Write the tokens (or any per-guess value) of the nodes in `level`.

    `guesses[r]` are the draft's ordered guesses after the node whose `parent_row` is r. A node
    takes its parent's rank-th guess (top-k drafting) or, `by_sibling`, the guess of its place
    among its siblings (sampled drafting, where guesses are draws and none may be skipped).
    """
    start, end = level
    nodes = torch.arange(start, end, device=tokens.device)
    column = (tree.sibling if by_sibling else tree.rank)[nodes]
    tokens[start:end] = guesses[parent_row[tree.parent[nodes]], column]
