"""generate(): the whole data path of one request, top to bottom.

    target prefill (two stages: up to the last video token, then the text that follows,
    whose queries' attention scores every video token)
      -> first token
      -> prune the video for the draft -> draft prefill
      -> loop { draft expands the tree level by level -> target verifies all nodes in one
               pass -> acceptance -> compact both KV caches }

Methods: `ar` (target alone, reported as `off`), `naive` (speculation, draft sees the full
video), `specvlm` (speculation, draft sees the pruned video). Greedy output (temperature 0)
is the target's own greedy output in every method: the tree holds the draft's top-k guesses
and acceptance follows the target's argmax. With temperature > 0 the tree holds the draft's
draws and acceptance is recursive rejection sampling (spec.sampling), so every token follows
the target's own sampling distribution; a seed fixes the output of each method, but the
methods consume randomness differently, so their seeded outputs differ.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from .models.adapter import ModelAdapter, PromptEmbedding
from .models.attention import VideoAttentionScores
from .models.kv import keep_tree_path, truncate
from .models.loading import ModelPair
from .models.prefix_cache import CachedPrefix, PrefixCache
from .spec.penalties import Penalties, TokenHistory, tree_extra
from .spec.pruning import STRATEGIES, select_video_tokens
from .spec.sampling import probabilities, sample_distinct, speculative_sample
from .spec.tree import TREE_SHAPES, TreeBuffers, build_tree, fill_children, tree_attention_mask
from .spec.verify import Acceptance, greedy_accept

METHODS = ("ar", "naive", "specvlm")
DRAFT_POSITIONS = ("contiguous", "original")


@dataclass(frozen=True)
class DecodingParams:
    method: str = "specvlm"
    max_new_tokens: int = 256
    drop_rate: float = 0.9
    pruning: str = "specvlm"  # strategy used by method specvlm (see spec.pruning)
    attention_mass: float = 0.4
    draft_positions: str = "original"  # or "contiguous", the reference code's re-indexing
    tree: str | tuple[tuple[int, ...], ...] = "tree"  # a TREE_SHAPES name or rank paths
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k filtering
    repetition_penalty: float = 1.0  # transformers' (prompt and output tokens)
    frequency_penalty: float = 0.0  # OpenAI's (output tokens)
    presence_penalty: float = 0.0  # OpenAI's (output tokens)
    seed: int | None = None
    ignore_eos: bool = False  # benchmarks and load tests: always decode max_new_tokens
    stop_token_ids: tuple[int, ...] = ()  # more tokens that end the output (kept in it), as vLLM's
    min_tokens: int = 0  # no stop token (EOS or stop_token_ids) before this many tokens
    logprobs: int | None = None  # report each token's log-probability and this many alternatives

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.pruning not in STRATEGIES:
            raise ValueError(f"unknown pruning strategy {self.pruning!r}; choose one of {', '.join(STRATEGIES)}")
        if self.draft_positions not in DRAFT_POSITIONS:
            raise ValueError(f"draft_positions must be one of {', '.join(DRAFT_POSITIONS)}")
        if not 0.0 <= self.drop_rate < 1.0:
            raise ValueError("drop_rate must be in [0, 1)")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1] and top_k >= 0")
        if self.repetition_penalty <= 0 or not (-2 <= self.frequency_penalty <= 2 and -2 <= self.presence_penalty <= 2):
            raise ValueError("repetition_penalty must be > 0, frequency and presence penalties in [-2, 2]")
        if not 0 <= self.min_tokens <= self.max_new_tokens:
            raise ValueError("min_tokens must be in [0, max_new_tokens]")
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise ValueError("logprobs (alternatives per token) must be in [0, 20]")
        if isinstance(self.tree, str) and self.tree not in TREE_SHAPES:
            raise ValueError(f"unknown tree {self.tree!r}; choose one of {', '.join(TREE_SHAPES)} or give paths")


    @property
    def speculative(self) -> bool:
        return self.method != "ar"

    @property
    def reported_method(self) -> str:
        """`off` when the target decodes alone."""
        return self.method if self.speculative else "off"


@dataclass
class GenerationStats:
    method: str
    prompt_tokens: int = 0
    cached_prompt_tokens: int = 0  # prompt tokens whose target KV cache came from the prefix cache
    completion_tokens: int = 0
    video_tokens: int = 0
    draft_video_tokens: int = 0
    num_drafts: int = 0  # verification steps
    num_draft_tokens: int = 0  # tree nodes proposed
    num_accepted_tokens: int = 0  # proposed tokens the target agreed with
    prefill_s: float = 0.0  # target prefill, up to the first token
    draft_prefill_s: float = 0.0
    decode_s: float = 0.0  # after the first token
    kept_video_positions: list[int] = field(default_factory=list)

    @property
    def mean_acceptance_length(self) -> float | None:
        """Tokens emitted per verification step, the bonus token included."""
        if not self.num_drafts:
            return None
        return (self.num_accepted_tokens + self.num_drafts) / self.num_drafts


@dataclass(frozen=True)
class TokenLogprob:
    """The target's log-probability of an emitted token, from its raw logits (before
    temperature and top-p/top-k, as vLLM reports them), and the most likely alternatives."""
    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class Chunk:
    token_ids: list[int]
    finish_reason: str | None = None  # "stop" (EOS) or "length" on the last chunk
    logprobs: list[TokenLogprob] | None = None  # one per token, when DecodingParams.logprobs is set


@functools.lru_cache(maxsize=16)
def _tree(paths: tuple[tuple[int, ...], ...], device: str) -> TreeBuffers:
    return build_tree(paths).to(device)


def tree_for(params: DecodingParams, device: torch.device) -> TreeBuffers:
    paths = TREE_SHAPES[params.tree] if isinstance(params.tree, str) else tuple(map(tuple, params.tree))
    return _tree(paths, str(device))


def stop_token_ids(pair: ModelPair) -> frozenset[int]:
    eos = pair.target.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, (list, tuple)) else [eos] if eos is not None else [])
    if pair.tokenizer.eos_token_id is not None:
        ids.add(pair.tokenizer.eos_token_id)
    return frozenset(ids)


class _Budget:
    """Cuts emitted tokens at the first stop token or at max_new_tokens."""

    def __init__(self, max_new_tokens: int, stop_ids: frozenset[int]):
        self.left = max_new_tokens
        self.stop_ids = stop_ids

    def take(self, tokens: list[int], logprobs: list[TokenLogprob] | None) -> Chunk:
        out, finish_reason = [], None
        for token in tokens:
            out.append(token)
            self.left -= 1
            if token in self.stop_ids:
                finish_reason = "stop"
                break
            if self.left == 0:
                finish_reason = "length"
                break
        return Chunk(out, finish_reason, None if logprobs is None else logprobs[: len(out)])


def token_logprobs(logits: torch.Tensor, tokens: list[int], alternatives: int, vocab_limit: int
                   ) -> list[TokenLogprob]:
    """Log-probabilities of `tokens[i]` under `logits[i]`, with the top `alternatives` among
    real tokenizer entries."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    chosen = logprobs.gather(-1, torch.tensor(tokens, device=logits.device)[:, None])[:, 0].tolist()
    if not alternatives:
        return [TokenLogprob(t, lp) for t, lp in zip(tokens, chosen)]
    values, ids = logprobs[:, :vocab_limit].topk(alternatives, dim=-1)
    return [TokenLogprob(t, lp, tuple(zip(i, v))) for t, lp, i, v in zip(tokens, chosen, ids.tolist(), values.tolist())]


@dataclass(frozen=True)
class _Sampling:
    """Temperature > 0: the distribution every token is drawn from, and the random source."""
    temperature: float
    top_p: float
    top_k: int
    generator: torch.Generator | None

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        return probabilities(logits, self.temperature, self.top_p, self.top_k)


def _penalized(logits: torch.Tensor, history: TokenHistory | None, extra=None) -> torch.Tensor:
    return logits if history is None else history.apply(logits, extra)


def _pick(logits: torch.Tensor, sampling: _Sampling | None) -> int:
    if sampling is None:
        return int(logits.argmax())
    return int(torch.multinomial(sampling.probs(logits), 1, generator=sampling.generator))


def _elapsed(start: float) -> float:
    return time.perf_counter() - start


@torch.inference_mode()  # applies to every step of the generator
def generate(pair: ModelPair, inputs, params: DecodingParams, stats: GenerationStats | None = None,
             prefix_cache: PrefixCache | None = None, prefix_key: str | None = None) -> Iterator[Chunk]:
    """Yield the new tokens of each decoding step; `stats` (if given) is filled as it runs.

    `inputs` is the target processor's output for one prompt (batch size 1). With a
    `prefix_cache` and the prompt's `prefix_key` (models.prefix_cache), the target's KV cache
    of the prompt up to its last video token is taken from the cache when there, and stored
    there when not.
    """
    stats = stats if stats is not None else GenerationStats(params.reported_method)
    stats.method = params.reported_method
    target = pair.target
    if params.speculative and pair.draft is None:
        raise ValueError(f"method {params.method} needs a draft model")
    stops = (frozenset() if params.ignore_eos else stop_token_ids(pair)) | frozenset(params.stop_token_ids)
    budget = _Budget(params.max_new_tokens, stops)
    sampling = None
    if params.temperature > 0:
        generator = None if params.seed is None else torch.Generator(target.device).manual_seed(params.seed)
        sampling = _Sampling(params.temperature, params.top_p, params.top_k, generator)
    history = None
    penalties = Penalties(params.repetition_penalty, params.frequency_penalty, params.presence_penalty,
                          params.min_tokens, stops)
    if penalties.active:
        history = TokenHistory(penalties, inputs["input_ids"][0], target.text_config.vocab_size, target.device)

    start = time.perf_counter()
    prefix = None
    if prefix_cache is not None and prefix_key is not None:
        prefix = _PrefixUse(prefix_cache, prefix_key, prefix_cache.restore(prefix_key, target.text_config))
    hit = prefix.hit if prefix is not None else None
    prompt = target.embed_prompt(inputs, video_features=hit is None)
    video_positions = prompt.video_mask.nonzero().flatten()
    stats.prompt_tokens = prompt.embeds.shape[1]
    stats.video_tokens = video_positions.numel()
    needs_scores = (params.speculative and params.method == "specvlm"
                    and params.pruning in ("specvlm", "attention") and video_positions.numel() > 0)
    target_cache = hit.cache if hit is not None else target.new_cache()
    stats.cached_prompt_tokens = target_cache.get_seq_length()
    logits, scores = _target_prefill(target, target_cache, prompt, video_positions, needs_scores, prefix)
    first = _pick(_penalized(logits[-1:], history)[0], sampling)
    if history is not None:
        history.add([first])
    stats.prefill_s = _elapsed(start)

    def logprobs(rows: torch.Tensor, tokens: list[int]) -> list[TokenLogprob] | None:
        if params.logprobs is None:
            return None
        return token_logprobs(rows, tokens, params.logprobs, target.vocab_limit)

    chunk = budget.take([first], logprobs(logits[-1:], [first]))
    stats.completion_tokens += len(chunk.token_ids)
    yield chunk
    if chunk.finish_reason:
        return

    decode_start = time.perf_counter()
    if params.speculative:
        steps = _speculative(pair, inputs, params, sampling, history, prompt, video_positions, scores, target_cache,
                             first, stats, prefix)
    else:
        steps = _autoregressive(target, sampling, history, prompt, target_cache, first)
    for tokens, rows in steps:
        chunk = budget.take(tokens, logprobs(rows, tokens))
        stats.completion_tokens += len(chunk.token_ids)
        stats.decode_s = _elapsed(decode_start)
        yield chunk
        if chunk.finish_reason:
            return


def _autoregressive(target: ModelAdapter, sampling: _Sampling | None, history: TokenHistory | None,
                    prompt: PromptEmbedding, cache, first: int) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Each step's token and the target logits it was picked from."""
    position, token = prompt.next_position, first
    while True:
        logits = target.forward(cache, target.text_positions(torch.tensor([position])),
                                token_ids=torch.tensor([token]))
        token = _pick(_penalized(logits[-1:], history)[0], sampling)
        if history is not None:
            history.add([token])
        position += 1
        yield [token], logits[-1:]


def _speculative(pair: ModelPair, inputs, params: DecodingParams, sampling: _Sampling | None,
                 history: TokenHistory | None, prompt: PromptEmbedding,
                 video_positions: torch.Tensor, scores: torch.Tensor, target_cache, first: int,
                 stats: GenerationStats, prefix: _PrefixUse | None) -> Iterator[tuple[list[int], torch.Tensor]]:
    """Each step's emitted tokens and, row for row, the target logits they were chosen from."""
    target, draft = pair.target, pair.draft
    strategy = "none" if params.method == "naive" else params.pruning
    sampler = None if params.seed is None else torch.Generator().manual_seed(params.seed)
    kept = select_video_tokens(strategy, scores, params.drop_rate, params.attention_mass, generator=sampler)
    stats.draft_video_tokens = kept.numel()
    stats.kept_video_positions = video_positions[kept.to(video_positions.device)].tolist()
    draft_start = time.perf_counter()
    draft_cache = draft.new_cache()
    draft_next_position = _draft_prefill(draft, draft_cache, inputs, prompt, video_positions, kept,
                                         params.draft_positions, prefix)
    stats.draft_prefill_s = _elapsed(draft_start)

    tree = tree_for(params, target.device)
    state = _SpecState(committed_root=first, target_position=prompt.next_position,
                       target_cached=prompt.embeds.shape[1], draft_pending=[first],
                       draft_position=draft_next_position)
    while True:
        drafted = _draft_tree(draft, draft_cache, tree, state, sampling, history)
        acceptance, logits = _verify(target, target_cache, tree, drafted, state, sampling, history)
        stats.num_drafts += 1
        stats.num_draft_tokens += tree.num_nodes - 1
        stats.num_accepted_tokens += acceptance.num_accepted
        yield acceptance.tokens, logits


@dataclass(frozen=True)
class _PrefixUse:
    """One request's dealings with the prefix cache: what it found, and where to add the rest."""
    cache: PrefixCache
    key: str
    hit: CachedPrefix | None


def _target_prefill(target: ModelAdapter, cache, prompt: PromptEmbedding, video_positions: torch.Tensor,
                    needs_scores: bool, prefix: _PrefixUse | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits for the first token, and one importance score per video token (zeros when
    not needed): the mean attention of the text after the last video over each video token.

    The prompt runs in two parts, split after the last video token, when scores are needed or
    the prefix cache is in use: on a hit `cache` already holds the first part, on a miss the
    first part is stored.
    """
    scores = torch.zeros(video_positions.numel())
    length = prompt.embeds.shape[1]
    split = int(video_positions[-1]) + 1 if video_positions.numel() and (needs_scores or prefix) else length
    if split >= length:
        return target.forward(cache, prompt.positions, embeds=prompt.embeds, last_only=True), scores
    if prefix is None or prefix.hit is None:
        target.forward(cache, prompt.positions[:, :split], embeds=prompt.embeds[:, :split], last_only=True)
        if prefix is not None:
            prefix.cache.store(prefix.key, cache, split)
    recorder = VideoAttentionScores(video_positions) if needs_scores else None
    logits = target.forward(cache, prompt.positions[:, split:], embeds=prompt.embeds[:, split:],
                            last_only=True, video_attention=recorder)
    return logits, scores if recorder is None else recorder.scores().cpu()


def _draft_prefill(draft: ModelAdapter, cache, inputs, target_prompt: PromptEmbedding,
                   video_positions: torch.Tensor, kept: torch.Tensor, positions_mode: str,
                   prefix: _PrefixUse | None = None) -> int:
    """Prefill the draft on the prompt with only the kept video rows; returns the draft's
    next position. The draft's video features come from the prefix cache when it has them,
    and go there when it has the target's part of this prompt but not them."""
    stored = prefix.hit.draft_video if prefix is not None and prefix.hit is not None else None
    prompt = draft.embed_prompt(inputs, video_features=True if stored is None else stored)
    if prefix is not None and stored is None and video_positions.numel():
        prefix.cache.store_draft_video(prefix.key, prompt.embeds[0, prompt.video_mask])
    rows = torch.ones(prompt.embeds.shape[1], dtype=torch.bool, device=prompt.embeds.device)
    rows[video_positions] = False
    rows[video_positions[kept.to(video_positions.device)]] = True
    embeds = prompt.embeds[:, rows]
    if positions_mode == "original":
        positions = target_prompt.positions[:, rows]
        next_position = target_prompt.next_position
    else:
        positions = draft.text_positions(torch.arange(embeds.shape[1]))
        next_position = embeds.shape[1]
    draft.forward(cache, positions, embeds=embeds, last_only=True)
    return next_position


@dataclass
class _SpecState:
    committed_root: int  # last committed token: the root of the next tree, not yet seen by the target
    target_position: int  # position of the root for the target
    target_cached: int  # tokens in the target cache (all committed tokens before the root)
    draft_pending: list[int]  # committed tokens the draft has not seen yet (ends with the root)
    draft_position: int  # position of draft_pending[0]


@dataclass(frozen=True)
class _DraftTree:
    tokens: torch.Tensor  # [n] node tokens, node 0 the root
    drawn: torch.Tensor | None = None  # sampled: [n] whether node i's token is a real draw
    probs: torch.Tensor | None = None  # sampled: [n, V_draft] what node i's children were drawn from


def _draft_tree(draft: ModelAdapter, cache, tree: TreeBuffers, state: _SpecState,
                sampling: _Sampling | None = None, history: TokenHistory | None = None) -> _DraftTree:
    """Every tree node's token: the draft's top-k guesses (greedy) or its draws without
    replacement (sampling). The draft cache is left as it was plus the pending tokens."""
    device = draft.device
    drafted = _DraftTree(torch.empty(tree.num_nodes, dtype=torch.long, device=device))
    if sampling is not None:
        # probs: only the rows of nodes with children are written, and only they are read
        drafted = _DraftTree(drafted.tokens, torch.ones(tree.num_nodes, dtype=torch.bool, device=device),
                             torch.empty(tree.num_nodes, draft.vocab_limit, device=device))
    drafted.tokens[0] = state.committed_root
    parent_row = torch.zeros(tree.num_nodes, dtype=torch.long, device=device)

    def add_children(logits: torch.Tensor, parents: torch.Tensor, level: tuple[int, int]) -> None:
        # the draft guesses under the penalties the target will apply
        extra = tree_extra(drafted.tokens, parents, tree) if history is not None else None
        logits = _penalized(logits[:, : draft.vocab_limit], history, extra)
        parent_row[parents] = torch.arange(parents.numel(), device=device)
        if sampling is None:
            guesses = torch.topk(logits, tree.top_k, dim=-1).indices
            fill_children(drafted.tokens, level, guesses, parent_row, tree)
            return
        probs = sampling.probs(logits)
        drafted.probs[parents] = probs
        draws, real = sample_distinct(probs, tree.max_children, sampling.generator)
        fill_children(drafted.tokens, level, draws, parent_row, tree, by_sibling=True)
        fill_children(drafted.drawn, level, real, parent_row, tree, by_sibling=True)

    pending = torch.tensor(state.draft_pending, device=device)
    positions = state.draft_position + torch.arange(pending.numel(), device=device)
    logits = draft.forward(cache, draft.text_positions(positions), token_ids=pending, last_only=True)
    root_position = state.draft_position + pending.numel() - 1
    prefix_len = cache.get_seq_length()
    add_children(logits, torch.zeros(1, dtype=torch.long, device=device), tree.level_ranges[0])
    fed = torch.empty(0, dtype=torch.long, device=device)
    for depth, (start, end) in enumerate(tree.level_ranges[:-1], start=1):
        level = torch.arange(start, end, device=device)
        feed = level[tree.has_children[start:end]]
        columns = torch.cat([fed, feed])
        mask = tree_attention_mask(prefix_len, feed, columns, tree)
        logits = draft.forward(cache, draft.text_positions(root_position + tree.depth[feed]),
                               token_ids=drafted.tokens[feed], attention_mask=mask)
        fed = columns
        add_children(logits, feed, tree.level_ranges[depth])
    truncate(cache, prefix_len)
    state.draft_position = root_position + 1
    return drafted


def _verify(target: ModelAdapter, cache, tree: TreeBuffers, drafted: _DraftTree, state: _SpecState,
            sampling: _Sampling | None = None, history: TokenHistory | None = None) -> tuple[Acceptance, torch.Tensor]:
    """The accepted tokens, and the target logits along the accepted path (row i: what
    the i-th emitted token was chosen from)."""
    tokens = drafted.tokens
    nodes = torch.arange(tree.num_nodes, device=tokens.device)
    mask = tree_attention_mask(state.target_cached, nodes, nodes, tree)
    logits = target.forward(cache, target.text_positions(state.target_position + tree.depth),
                            token_ids=tokens, attention_mask=mask)
    chosen_from = _penalized(logits, history, tree_extra(tokens, nodes, tree) if history is not None else None)
    if sampling is None:
        acceptance = greedy_accept(tokens, chosen_from.argmax(dim=-1), tree)
    else:
        acceptance = speculative_sample(tokens, drafted.drawn, sampling.probs(chosen_from), drafted.probs, tree,
                                        sampling.generator)
    if history is not None:
        history.add(acceptance.tokens)
    keep_tree_path(cache, state.target_cached, torch.tensor(acceptance.path, device=tokens.device))
    state.target_cached += len(acceptance.path)
    state.target_position += len(acceptance.path)
    state.committed_root = acceptance.tokens[-1]
    state.draft_pending = acceptance.tokens
    return acceptance, logits[acceptance.path]
