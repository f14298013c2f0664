"""--precision: what auto picks on which hardware, and that mixed precision trains the same model."""

import json

import numpy as np
import pytest

from charbot.model import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.system.hardware import (bfloat16_crashes_tensorflow, cpu_flags, cpu_model, kernel_flags, onednn_isa_cap,
                                     onednn_pays, tensorflow_uses_onednn)
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


def test_onednn_capped_below_avx512_keeps_a_bfloat16_cpu_in_float32():
    """Capped there, TensorFlow 2.21 segfaults on a bfloat16 matmul on a CPU with native bfloat16 (measured on a
    Zen 5 under ONEDNN_MAX_CPU_ISA=AVX2): auto picks float32 and an explicit bfloat16 is one line."""
    bf16_cpu = {"avx2", "avx512f", "avx512_bf16"}
    assert choose("auto", [], bf16_cpu, "AVX2") == (
        "float32", "no GPU, and ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN off this CPU's bfloat16")
    with pytest.raises(CharbotError, match=r"^--precision bfloat16 with ONEDNN_MAX_CPU_ISA=AVX2 crashes TensorFlow .*"
                                           r"unset ONEDNN_MAX_CPU_ISA, or use --precision float32$"):
        choose("bfloat16", [], bf16_cpu, "AVX2")
    assert choose("auto", [], bf16_cpu, "AVX512_CORE_BF16")[0] == "bfloat16"  # a cap that keeps bfloat16
    assert choose("auto", [(8, 0)], bf16_cpu, "AVX2")[0] == "float16"  # the GPU trains
    assert choose("bfloat16", [], {"avx2"}, "AVX2")[0] == "bfloat16"  # no native bfloat16: emulated, no crash
    assert onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": "avx2"}) == "AVX2"
    assert onednn_isa_cap({"DNNL_MAX_CPU_ISA": "AVX2_VNNI"}) == "AVX2_VNNI"
    assert onednn_isa_cap({"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_ENABLE_ONEDNN_OPTS": "0"}) == "AVX2"  # Eigen's sgemm
    # TensorFlow on Eigen (TF_ENABLE_ONEDNN_OPTS=0) does not crash; capped, the bfloat16 is not native either
    assert choose("auto", [], bf16_cpu, "AVX2", onednn=False)[0] == "float32"
    assert choose("bfloat16", [], bf16_cpu, "AVX2", onednn=False)[0] == "bfloat16"
    assert not bfloat16_crashes_tensorflow(bf16_cpu, "AVX2", onednn=False)
    assert onednn_isa_cap({}) is None


def test_a_onednn_cap_below_avx512_hides_avx512_and_amx_from_the_choices_by_cpu_class():
    zen5 = {"avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni"}
    xeon = zen5 | {"amx_bf16", "amx_tile"}
    assert kernel_flags(zen5, {}) == zen5
    assert kernel_flags(xeon, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}) == xeon  # a cap at AVX-512 keeps it
    assert kernel_flags(zen5, {"ONEDNN_MAX_CPU_ISA": "avx2"}) == {"avx2", "fma"}
    assert kernel_flags(xeon, {"DNNL_MAX_CPU_ISA": "AVX2_VNNI"}) == {"avx2", "fma"}
    # TensorFlow's own kernels off: its Eigen products still run oneDNN's sgemm, capped
    assert kernel_flags(zen5, {"ONEDNN_MAX_CPU_ISA": "AVX2", "TF_ENABLE_ONEDNN_OPTS": "0"}) == {"avx2", "fma"}


@pytest.mark.parametrize("flags, environ, expected", [
    ({"avx2", "fma"}, {}, False),  # AMD Zen 3: Eigen
    ({"avx2", "fma", "avx_vnni"}, {}, True),  # Intel Alder Lake
    ({"avx2", "avx512f", "avx512_bf16"}, {}, True),
    ({"avx2", "avx512f", "avx512_bf16"}, {"TF_ENABLE_ONEDNN_OPTS": "0"}, False),
    ({"avx2", "fma"}, {"TF_ENABLE_ONEDNN_OPTS": "1"}, True),
])
def test_which_cpus_tensorflow_runs_on_onednn(flags, environ, expected):
    assert tensorflow_uses_onednn(flags, environ) is expected


@pytest.mark.parametrize("flags, expected", [
    ({"avx2", "fma"}, True),  # AMD Zen 3: TensorFlow leaves oneDNN off, charbot turns it on
    ({"avx2", "fma", "avx_vnni"}, False),  # on already
    ({"avx2", "avx512f", "avx512_bf16"}, False),  # on already
    ({"avx2", "avx512f"}, False),  # AVX-512 without VNNI: not measured, TensorFlow's default stays
    ({"sse4_2"}, False),
])
def test_charbot_turns_onednn_on_for_avx2_cpus_only(flags, expected):
    assert onednn_pays(flags) is expected


def test_the_onednn_rule_agrees_with_tensorflow_here():
    from charbot.system.tfload import load_tensorflow

    load_tensorflow()
    from tensorflow.python.util import _pywrap_util_port  # TensorFlow's own answer (private, pinned 2.21)

    assert tensorflow_uses_onednn(cpu_flags()) is bool(_pywrap_util_port.IsMklEnabled())


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
    if precision == "bfloat16" and bfloat16_crashes_tensorflow(cpu_flags(), onednn_isa_cap(),
                                                                 tensorflow_uses_onednn(cpu_flags())):
        pytest.skip("bfloat16 is refused here: oneDNN is capped below AVX-512 on a bfloat16 CPU (see above)")
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
