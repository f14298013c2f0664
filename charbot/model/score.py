"""A text's score: the loss of every character, in nats, with how it was read. NumPy only.

Both runtimes return one: `evaluate.score_text` (TensorFlow, parallel streams) and the LiteRT engine (one stream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from charbot.config import LN2


@dataclass
class Score:
    characters: int  # characters scored (the text's known characters, less the first)
    skipped: str  # unknown characters, each once
    seconds: float
    streams: int
    losses: np.ndarray = field(repr=False)  # [characters] nats for each scored character

    @property
    def nats(self) -> float:
        return float(self.losses.mean()) if self.characters else math.nan

    @property
    def bits(self) -> float:
        return self.nats / LN2
