"""Token ids -> text deltas, with stop strings cut exactly where they start."""

from __future__ import annotations

from typing import Sequence


class TextAssembler:
    """Turns the tokens of one completion into text deltas.

    Text that could still become a stop string, or an incomplete UTF-8 character, is held
    back until the next tokens decide it.
    """

    def __init__(self, tokenizer, stop: Sequence[str] = ()):
        self.tokenizer = tokenizer
        self.stop = tuple(s for s in stop if s)
        self.holdback = max((len(s) for s in self.stop), default=1) - 1
        self.token_ids: list[int] = []
        self.emitted = 0  # characters of the decoded text already handed out
        self.text = ""
        self.stopped = False

    def add(self, token_ids: Sequence[int]) -> str:
        """New text that is safe to emit; sets `stopped` when a stop string appeared."""
        self.token_ids.extend(token_ids)
        text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        search_from = max(0, self.emitted - self.holdback)
        hits = [i for i in (text.find(s, search_from) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            self.text = text[: min(hits)]
            return self._emit(len(self.text))
        self.text = text
        safe = len(text) - self.holdback
        if text.endswith("\ufffd"):  # a multi-byte character split across tokens
            safe = min(safe, len(text) - 1)
        return self._emit(safe)

    def flush(self) -> str:
        """Everything not yet emitted, once generation is over."""
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        delta = self.text[self.emitted:end]
        self.emitted = end
        return delta
