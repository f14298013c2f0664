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
        return dataclasses.asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass

    @classmethod
    def from_dict(cls, data: dict):
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{key: value for key, value in data.items() if key in names})


def flag(default, kind: str, help: str, name: str = ""):
    """A setting that `charbot train` takes as a flag (`--rnn-units`, or `name`): `kind` names its rule
    (cli.py: positive, count, fraction, number, count_number, whole, switch, precision) and `help` is its
    --help text. The flags are made from these fields; nothing else lists them."""
    return field(default=default, metadata={"kind": kind, "help": help, "name": name})


def flagged(config) -> list[dataclasses.Field]:
    """The fields of a config class that are flags of `charbot train`."""
    return [f for f in dataclasses.fields(config) if "kind" in f.metadata]


@dataclass(frozen=True)
class ModelConfig(_Saved):
    vocab_size: int = 0  # filled from the corpus' vocabulary before building
    embedding_dim: int = flag(64, "positive", "width of the character embedding")
    rnn_units: int = flag(512, "positive", "width of each LSTM layer")
    num_layers: int = flag(2, "positive", "stacked LSTM layers")
    dropout: float = flag(0.1, "fraction", "dropout on each LSTM layer's output, between layers and before the head")
    input_dropout: float = flag(0.0, "fraction", "dropout on the embedding output")
    locked_dropout: bool = flag(False, "switch", "one dropout mask per window for every time step (variational), "
                                "not one per step")
    weight_drop: float = flag(0.0, "fraction", "DropConnect on the recurrent weights, one mask per window "
                              "(AWD-LSTM; CPUs only)")
    layer_norm: bool = flag(False, "switch", "layer normalisation inside the LSTM cell (CPUs only)")


@dataclass(frozen=True)
class TrainConfig(_Saved):
    corpus: str = "shakespeare"  # catalogue name, a path, or several joined by os.pathsep (cli: --corpus)
    batch_size: int = flag(64, "positive", "parallel streams laid through the training split")
    seq_len: int = flag(128, "positive", "characters per truncated back-propagation window")
    epochs: int = flag(20, "positive", "upper bound; early stopping usually ends sooner")
    learning_rate: float = flag(2e-3, "number", "peak Adam learning rate")
    min_learning_rate_ratio: float = 0.1  # cosine decay ends at peak * this ratio
    warmup_steps: int = 100  # linear warm-up from zero, steadies early Adam steps
    clip_norm: float = 1.0  # global gradient-norm clip
    val_fraction: float = flag(0.1, "fraction", "held-out tail of the corpus, as nanoGPT does on tiny-shakespeare")
    val_chars: int = flag(1_000_000, "count", "score about N characters of the validation split each epoch, as "
                          "streams spread through it; 0 scores all of it")
    patience: int = flag(3, "positive", "epochs without validation improvement before stopping early")
    seed: int = flag(1234, "whole", "weights, dropout and everything random in a run")
    budget_seconds: float = flag(0.0, "number", "stop training after this many seconds (default: no limit)",
                                 name="--budget")
    max_steps: int = flag(0, "positive", "stop after this many training windows in all, then validate "
                          "(default: no limit)")
    schedule_steps: int = 0  # steps the learning-rate schedule spans (0 = epochs x windows per epoch)
    sample_chars: int = 200  # length of the sample shown after each epoch
    precision: str = flag("auto", "precision", "number format of the matrix products: auto picks bfloat16 on CPUs "
                          "that compute it natively, float16 on CUDA GPUs with tensor cores, float32 otherwise")
    weight_decay: float = flag(0.0, "count_number", "decoupled weight decay (AdamW) when above 0, else Adam")
    ema: float = flag(0.0, "fraction", "validate and save a moving average of the weights with this momentum, "
                      "e.g. 0.999 (default off)")


@dataclass(frozen=True)
class SampleConfig:
    temperature: float = 0.6  # 0 means greedy (argmax)
    max_chars: int = 500  # length limit of one reply
    top_k: int = 0  # keep the k most likely characters (0 = off)
    top_p: float = 1.0  # nucleus: keep the smallest set with this much mass (1.0 = off)
    min_p: float = 0.0  # keep characters at least this fraction as likely as the most likely (0 = off)
    stop: tuple[str, ...] = field(default=("\n\n",))  # a reply ends after any of these
    seed: int | None = None  # None draws a fresh seed, which is then reported
    form: str = "off"  # a poem form (五绝, 七绝, 五律, 七律) enforced at every character, or off
    acrostic: str = ""  # 藏头: each line of the poem starts with the next character of this phrase
    rhyme: bool = False  # the last characters of every second line share a rhyme group

    def replace(self, **changes) -> "SampleConfig":
        return dataclasses.replace(self, **changes)


LN2 = math.log(2.0)  # nats in a bit: bits/char = nats/char / LN2
MAX_CHARS_LIMIT = 100_000  # a longer reply is almost surely a typo for something smaller

