"""`Vocabulary`: the characters a model knows, mapped to ids and back, with a JSON round trip.

Unknown-character policy (one for the whole program): characters that are not in the vocabulary
are skipped, and the caller is told which ones were skipped so it can warn. Nothing crashes on
odd input. This module knows nothing about models or TensorFlow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from charbot.errors import CharbotError


@dataclass(frozen=True)
class Encoded:
    """Ids for the known characters of a text, and the unknown characters that were skipped."""

    ids: list[int]
    skipped: str  # distinct skipped characters, in order of first appearance


@dataclass(frozen=True)
class Vocabulary:
    chars: str  # every known character once, sorted; the id of a character is its index here
    _index: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chars:
            raise CharbotError("vocabulary is empty: the corpus has no characters")
        if len(set(self.chars)) != len(self.chars):
            raise CharbotError("vocabulary lists a character twice: the vocab.json file is corrupt")
        object.__setattr__(self, "_index", {char: i for i, char in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> "Vocabulary":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: str) -> bool:
        return char in self._index

    def encode(self, text: str) -> Encoded:
        """Ids of the known characters of `text`, skipping (and reporting) the unknown ones."""
        index = self._index
        ids = [index[char] for char in text if char in index]
        skipped = ""
        if len(ids) != len(text):
            skipped = "".join(dict.fromkeys(char for char in text if char not in index))
        return Encoded(ids, skipped)

    def ids_from_text(self, text: str) -> list[int]:
        return self.encode(text).ids

    def text_from_ids(self, ids) -> str:
        chars = self.chars
        return "".join(chars[int(i)] for i in ids)

    def to_json(self) -> str:
        return json.dumps({"chars": self.chars}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("chars"), str):
            raise CharbotError('vocab.json must be an object with a "chars" string')
        return cls(data["chars"])


def describe_chars(chars: str) -> str:
    """Readable list of characters for a warning: `'é', '\\t'`."""
    return ", ".join(repr(char) for char in chars)
