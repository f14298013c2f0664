"""Poem forms as a sampler constraint: 五绝, 七绝, 五律, 七律, acrostics (藏头) and rhymes, exact at every character.

A poem is laid out as the `tang` corpus lays it: a title line, then one couplet row a line, each row a
line of n characters, `，`, a line of n characters, `。`, and a blank line after the last row.

    五绝  4 lines of 5 (2 rows)     七绝  4 lines of 7 (2 rows)
    五律  8 lines of 5 (4 rows)     七律  8 lines of 7 (4 rows)

`PoemConstraint` tracks where the poem stands and, before each character, allows only what may come
there: Chinese characters inside a line, then its punctuation, then the newline, then the end. The model
still chooses among what is allowed, at any temperature and with any filter. Without a form, an acrostic
sets the number of lines and the first line sets their length. With rhyme on, the last character of every
second line shares a rhyme group (`generate.rhyme`) with the one that ends line 2, unless the group holds
no likely character at that step (less than `RHYME_FALLBACK` of the probability): then any character
goes, and `fallbacks` counts it.

The seed text (a title, or the first rows) is read through the same rules, so a poem goes on from
whatever the user typed; a typed title is taken as whole (the rows follow it), and a seed that breaks the
form is refused in one line. No TensorFlow here.
"""

from __future__ import annotations

import numpy as np

from charbot.errors import CharbotError
from charbot.generate import npsampler
from charbot.generate.settings import FORMS, is_han
from charbot.model.vocab import Vocabulary

TITLE_MAX = 12  # characters in a title the model writes
FREE_LINE = (3, 9)  # without a form: the shortest and longest first line, which sets the others
FREE_ROWS_MAX = 16  # without a form or an acrostic: a poem ends after this many rows at the latest
RHYME_FALLBACK = 1e-4  # a rhyme group with less probability than this at its step is not forced
_ROW_MARKS = "，。！？；"


def constraint_for(settings, vocab: Vocabulary, prefix: str = "") -> "PoemConstraint | None":
    """The constraint that `settings` (form, acrostic, rhyme) ask for, placed after `prefix`; None if none."""
    if settings.form == "off" and not settings.acrostic and not settings.rhyme:
        return None
    length, lines = FORMS.get(settings.form, (None, None))
    if settings.acrostic and lines is not None and len(settings.acrostic) != lines:
        raise CharbotError(f"the acrostic {settings.acrostic} has {len(settings.acrostic)} characters but a "
                           f"{settings.form} has {lines} lines: give {lines}, or another form")
    unknown = "".join(char for char in settings.acrostic if char not in vocab)
    if unknown:
        raise CharbotError(f"this model has never seen {unknown} of the acrostic {settings.acrostic}: choose "
                           f"other characters")
    lines = lines or (len(settings.acrostic) or None)
    return PoemConstraint(vocab, length, lines, settings.acrostic, settings.rhyme).after(prefix)


class PoemConstraint:
    """Where a poem stands, character by character, and what may come next (see the module docstring)."""

    def __init__(self, vocab: Vocabulary, length: int | None, lines: int | None, acrostic: str = "",
                 rhyme: bool = False):
        self.vocab, self.length, self.lines, self.acrostic, self.rhyme = vocab, length, lines, acrostic, rhyme
        self.han = np.array([is_han(char) for char in vocab.chars])
        if not self.han.any():
            raise CharbotError("this model knows no Chinese characters: poem forms need a model such as tang")
        for mark in "，。\n":
            if mark not in vocab:
                raise CharbotError(f"this model has never seen {mark!r}, which poems need: use a model such as tang")
        self.phase, self.title = "title", 0  # title, line, row_end (after 。), between (rows), end
        self.line, self.pos = 0, 0  # the line being written (from 0) and its characters so far
        self.finished = False
        self.title_typed = False  # set by `after`: the title came whole from the seed
        self.rhymes: list[str] = []  # the characters that end lines 2, 4, 6, ...
        self.fallbacks = 0
        self._rhyme_masks: dict[frozenset, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}

    def after(self, prefix: str) -> "PoemConstraint":
        """This constraint with `prefix` (the poem's text so far) read through it; refused in one line if it
        breaks the form."""
        text = prefix.lstrip("\n")
        if any(mark in text.split("\n")[0] for mark in _ROW_MARKS):
            self.phase = "line"  # the seed starts with a row: no title
        for index, char in enumerate(text):
            allowed = self.allowed(None)
            if char not in self.vocab or not allowed[self.vocab.ids_from_text(char)[0]]:
                raise CharbotError(f"the seed breaks the poem's form at character {index + 1} ({char!r}): "
                                   f"{self.expected()}; change the seed or the form")
            self.advance(char)
        if self.finished:
            raise CharbotError("the seed is a whole poem already: type a title or its first rows")
        self.title_typed = self.phase == "title" and self.title > 0  # a typed title is whole: the poem follows
        return self

    def _only(self, chars: str) -> np.ndarray:
        if chars not in self._masks:
            self._masks[chars] = np.zeros(len(self.vocab), bool)
            self._masks[chars][self.vocab.ids_from_text(chars)] = True
        return self._masks[chars]

    def allowed(self, logits: np.ndarray | None) -> np.ndarray:
        if self.phase == "title":
            if self.title == 0:
                return self.han
            done = self.title_typed or self.title >= TITLE_MAX
            return self._only("\n") if done else self.han | self._only("\n")
        if self.phase == "row_end":
            return self._only("\n")
        if self.phase == "between":  # a row has ended: the next row, or the poem's end
            if self.lines is not None:
                return self._only("\n") if self.line >= self.lines else self._first_char()
            return self._only("\n") if self.line // 2 >= FREE_ROWS_MAX else self._first_char() | self._only("\n")
        return self._inside_line(logits)

    def _inside_line(self, logits) -> np.ndarray:
        if self.pos == 0:
            return self._first_char()
        mark = self._only("，" if self.line % 2 == 0 and self.line + 1 != self.lines else "。")
        if self.length is None:  # the first line of a poem with no form sets the length
            low, high = FREE_LINE
            return self.han if self.pos < low else mark if self.pos >= high else self.han | mark
        if self.pos >= self.length:
            return mark
        if self.rhyme and self.pos == self.length - 1 and self.line % 2 == 1:
            return self._rhyming(logits)
        return self.han

    def _first_char(self) -> np.ndarray:
        if self.acrostic and self.line < len(self.acrostic):
            return self._only(self.acrostic[self.line])
        return self.han

    def _rhyming(self, logits) -> np.ndarray:
        from charbot.generate.rhyme import groups_of

        if not self.rhymes:  # line 2 sets the group: any character with a known reading
            return self.han & self._rhyme_mask(None)
        anchor = groups_of(self.rhymes[0])
        if not anchor:
            return self.han
        mask = self._rhyme_mask(anchor) & ~self._only("".join(self.rhymes))  # a rhyme is not repeated
        if logits is not None and (not mask.any() or npsampler.softmax(logits.astype(np.float64))[mask].sum()
                                   < RHYME_FALLBACK):
            self.fallbacks += 1
            return self.han
        return mask if mask.any() else self.han

    def _rhyme_mask(self, anchor: frozenset | None) -> np.ndarray:
        from charbot.generate.rhyme import groups_of

        key = anchor or frozenset({"*"})
        if key not in self._rhyme_masks:
            self._rhyme_masks[key] = np.array([
                bool(is_han and (groups_of(char) & anchor if anchor else groups_of(char)))
                for char, is_han in zip(self.vocab.chars, self.han)])
        return self._rhyme_masks[key]

    def advance(self, char: str) -> None:
        if char == "\n":
            self.finished = self.phase == "between"
            self.phase = {"title": "line", "row_end": "between", "between": "end"}[self.phase]
            return
        if self.phase == "title":
            self.title += 1
            return
        self.phase = "line"
        if char in "，。":
            self.length = self.length or self.pos
            self.line, self.pos = self.line + 1, 0
            self.phase = "row_end" if char == "。" else "line"
            return
        self.pos += 1
        if self.rhyme and self.line % 2 == 1 and self.pos == self.length:
            self.rhymes.append(char)

    def expected(self) -> str:
        """What may come next, in words, for an error about a seed."""
        allowed = self.allowed(None)
        if allowed.sum() <= 3:
            return "expected " + " or ".join(repr(self.vocab.chars[i]) for i in np.flatnonzero(allowed))
        return "expected a Chinese character"
