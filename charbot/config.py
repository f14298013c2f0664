"""Frozen settings for the model, training and sampling, with their defaults.

Configuration flows one way: these defaults -> command-line options -> saved in the checkpoint.
`chat` and `generate` read `ModelConfig` back from the checkpoint, never from flags.
This module holds plain data only; it imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field


class _Saved:
    """Settings that are written into checkpoints as JSON and read back (unknown keys ignored)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class ModelConfig(_Saved):
    vocab_size: int = 0  # filled from the corpus' vocabulary before building
    embedding_dim: int = 64  # characters are few; a small embedding is plenty
    rnn_units: int = 512  # width of each LSTM layer
    num_layers: int = 2  # stacked LSTM layers
    dropout: float = 0.1  # on each LSTM layer's output (between layers, and before the head), training only
    input_dropout: float = 0.0  # on the embedding output, training only
    locked_dropout: bool = False  # one dropout mask per window for every time step (variational), not one per step
    weight_drop: float = 0.0  # DropConnect on each layer's recurrent kernel, one mask per window (AWD-LSTM)
    layer_norm: bool = False  # layer normalisation of each gate and of the cell inside the LSTM cell (LN-LSTM)


@dataclass(frozen=True)
class TrainConfig(_Saved):
    corpus: str = "shakespeare"  # catalogue name or a path to a UTF-8 text file
    batch_size: int = 64  # parallel streams laid through the training split
    seq_len: int = 128  # characters per truncated back-propagation window
    epochs: int = 20  # upper bound; early stopping usually ends sooner
    learning_rate: float = 2e-3  # peak Adam learning rate
    min_learning_rate_ratio: float = 0.1  # cosine decay ends at peak * this ratio
    warmup_steps: int = 100  # linear warm-up from zero, steadies early Adam steps
    clip_norm: float = 1.0  # global gradient-norm clip
    val_fraction: float = 0.1  # held-out tail, as nanoGPT does on tiny-shakespeare
    val_chars: int = 1_000_000  # characters of the tail scored each epoch, in streams spread through it (0 = all)
    patience: int = 3  # epochs without validation improvement before stopping
    seed: int = 1234  # weights, dropout and everything random in a run
    budget_seconds: float = 0.0  # stop training after this much wall time (0 = no limit)
    max_steps: int = 0  # stop training after this many windows in all, then validate (0 = no limit)
    schedule_steps: int = 0  # steps the learning-rate schedule spans (0 = epochs x windows per epoch)
    sample_chars: int = 200  # length of the sample shown after each epoch
    precision: str = "auto"  # auto | float32 | bfloat16 | float16; a run records what auto chose
    weight_decay: float = 0.0  # decoupled weight decay (AdamW) when above 0, else Adam
    ema: float = 0.0  # momentum of an exponential moving average of the weights, used to validate and save (0 = off)


@dataclass(frozen=True)
class SampleConfig:
    temperature: float = 0.6  # 0 means greedy (argmax)
    max_chars: int = 500  # length limit of one reply
    top_k: int = 0  # keep the k most likely characters (0 = off)
    top_p: float = 1.0  # nucleus: keep the smallest set with this much mass (1.0 = off)
    min_p: float = 0.0  # keep characters at least this fraction as likely as the most likely (0 = off)
    stop: tuple[str, ...] = field(default=("\n\n",))  # a reply ends after any of these
    seed: int | None = None  # None draws a fresh seed, which is then reported

    def replace(self, **changes) -> "SampleConfig":
        return dataclasses.replace(self, **changes)


LN2 = math.log(2.0)  # nats in a bit: bits/char = nats/char / LN2
MAX_CHARS_LIMIT = 100_000  # a longer reply is almost surely a typo for something smaller

