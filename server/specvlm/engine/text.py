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
        # Only a short window of tokens is decoded per step: text settled before
        # `prefix_offset` is final, and `read_offset` is where the settled text ends.
        self.prefix_offset = 0
        self.read_offset = 0
        self.decoded = ""  # settled text of all tokens up to read_offset
        self.emitted = 0  # characters of the decoded text already handed out
        self.text = ""
        self.stopped = False

    def add(self, token_ids: Sequence[int]) -> str:
        """New text that is safe to emit; sets `stopped` when a stop string appeared."""
        self.token_ids.extend(token_ids)
        text = self._decode_new()
        search_from = max(0, self.emitted - self.holdback)
        hits = [i for i in (text.find(s, search_from) for s in self.stop) if i >= 0]
        if hits:
            self.stopped = True
            self.text = text[: min(hits)]
            return self._emit(len(self.text))
        self.text = text
        return self._emit(len(text) - self.holdback)

    def _decode_new(self) -> str:
        """All text so far, decoding only the tokens since the last settled point."""
        decode = lambda ids: self.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
        window = decode(self.token_ids[self.prefix_offset:])
        settled = decode(self.token_ids[self.prefix_offset:self.read_offset])
        if window.endswith("\ufffd") or not window.startswith(settled):
            # a multi-byte character split across tokens: wait for the rest of it
            return self.decoded
        self.decoded += window[len(settled):]
        self.prefix_offset, self.read_offset = self.read_offset, len(self.token_ids)
        return self.decoded

    def flush(self) -> str:
        """Everything not yet emitted, once generation is over (an unfinished multi-byte
        character included, as the full decode shows it)."""
        if not self.stopped:
            self.text = self.tokenizer.decode(self.token_ids, skip_special_tokens=True)
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        delta = self.text[self.emitted:end]
        self.emitted = end
        return delta
