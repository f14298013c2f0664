"""--precision: what auto picks on which hardware, and that mixed precision trains the same model."""

import json

import numpy as np
import pytest

from charbot.model import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.system.hardware import cpu_flags, cpu_model
from charbot.training.precision import choose
from charbot.training.loop import train


@pytest.mark.parametrize(
    "gpus, flags, expected",
    [
        ([], {"avx512f", "avx512_bf16"}, "bfloat16"),
        ([], {"amx_bf16", "amx_tile"}, "bfloat16"),
        ([], {"avx2", "avx512f"}, "float32"),
        ([], set(), "float32"),
        ([(8, 0)], {"avx512_bf16"}, "float16"),
        ([(7, 0)], set(), "float16"),
        ([(6, 1)], {"avx512_bf16"}, "float32"),
    ],
)
def test_auto_reads_the_hardware(gpus, flags, expected):
    chosen, why = choose("auto", gpus, flags)
    assert chosen == expected and why


def test_an_explicit_precision_is_kept_and_a_bad_one_refused():
    assert choose("float16", [], set()) == ("float16", "asked for with --precision")
    with pytest.raises(CharbotError, match="unknown precision 'half': use one of auto, float32, bfloat16, float16"):
        choose("half", [], set())


def test_bfloat16_asked_for_on_a_cpu_without_it_says_it_is_slower():
    chosen, why = choose("bfloat16", [], {"avx2", "fma"})
    assert chosen == "bfloat16"
    assert why == ("asked for with --precision, but this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 "
                   "flag): it is emulated, slower than float32")
    assert choose("bfloat16", [], {"avx512_bf16"}) == ("bfloat16", "asked for with --precision")
    assert choose("bfloat16", [(8, 0)], set()) == ("bfloat16", "asked for with --precision")


def test_cpu_flags_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx512f avx512_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx512f", "avx512_bf16"}
    assert cpu_model(info) == "AMD EPYC 9B14"
    assert cpu_flags(tmp_path / "missing") == set()
    assert cpu_model(tmp_path / "missing")  # falls back to the platform's name


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
@pytest.mark.slow(seconds=11)
def test_mixed_precision_trains_close_to_float32_and_is_recorded(tmp_path, play_file, precision):
    corpus = load_corpus(str(play_file))
    model = ModelConfig(embedding_dim=8, rnn_units=32, num_layers=2, dropout=0.0)
    losses = {}
    for name in ("float32", precision):
        config = TrainConfig(batch_size=8, seq_len=32, epochs=3, learning_rate=0.01, warmup_steps=2, precision=name)
        losses[name] = train(corpus, model, config, tmp_path / name).best_val_loss
    assert np.isfinite(losses[precision])
    assert losses[precision] == pytest.approx(losses["float32"], abs=0.05)
    saved = json.loads((tmp_path / precision / "latest" / "config.json").read_text())
    assert saved["training"]["precision"] == precision
    metrics = checkpoint.load(tmp_path / precision / "latest").metrics
    assert metrics["precision"] == precision and metrics["precision_reason"].startswith("asked for with --precision")
    weights = checkpoint.load(tmp_path / precision / "best").weights
    assert all(w.dtype == np.float32 for w in weights.values())  # variables stay float32
