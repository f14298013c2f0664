"""What machine this is: the CPU's name and feature flags, and the record a training run keeps.

One home for reading /proc/cpuinfo; it is not a benchmark and measures nothing. TensorFlow is
imported only by `machine()`, which lists the GPUs.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def _cpuinfo_field(names: tuple[str, ...], cpuinfo: Path) -> str | None:
    """The first value of one of `names` in cpuinfo (Linux); None where it cannot be read."""
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in names:
            return value.strip()
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags (Linux); an empty set where they cannot be read."""
    return set((_cpuinfo_field(("flags", "Features"), cpuinfo) or "").split())


# oneDNN's ISA names below AVX512_CORE: capped there, a CPU with native bfloat16 crashes TensorFlow 2.21 on
# a bfloat16 matmul (a segfault, measured on a Zen 5 with AVX2, AVX2_VNNI, AVX and SSE41; AVX512_CORE and
# above run). TensorFlow routes the matmul to oneDNN by the CPU's own flags, and oneDNN, capped, has no kernel.
ONEDNN_BELOW_AVX512 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2")


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def bfloat16_crashes_tensorflow(flags: set[str], isa_cap: str | None, onednn: bool = True) -> bool:
    """Whether a bfloat16 matmul segfaults TensorFlow's CPU kernels here (see ONEDNN_BELOW_AVX512); only
    TensorFlow's oneDNN kernels do (`onednn`: `tensorflow_uses_onednn`)."""
    return onednn and bool(flags & set(NATIVE_BF16_FLAGS)) and isa_cap in ONEDNN_BELOW_AVX512


def onednn_isa_cap(environ=os.environ) -> str | None:
    """The ISA oneDNN is capped at (ONEDNN_MAX_CPU_ISA, or its old name DNNL_MAX_CPU_ISA), upper-cased, or
    None. It holds with TF_ENABLE_ONEDNN_OPTS=0 too: TensorFlow's Eigen products then run oneDNN's sgemm."""
    return (environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA") or "").strip().upper() or None


def kernel_flags(flags: set[str] | None = None, environ=os.environ) -> set[str]:
    """The CPU's flags (default: this CPU's) as oneDNN's kernels see them: without AVX-512 and AMX under a
    cap below AVX-512 (ONEDNN_MAX_CPU_ISA=AVX2, say), so that what is chosen by CPU class (`cpu_split`,
    `xla_pays`) follows the kernels that run."""
    flags = cpu_flags() if flags is None else flags
    if onednn_isa_cap(environ) not in ONEDNN_BELOW_AVX512:
        return flags
    return {flag for flag in flags if not flag.startswith(("avx512", "amx"))}


# TensorFlow's default on Linux x86 (DefaultOneDnnPolicy, tensorflow/core/util/port.cc): oneDNN's kernels
# for CPUs with one of these; Eigen's for the rest (AMD Zen 2 and 3, Intel before Cascade Lake and Alder Lake)
ONEDNN_BY_DEFAULT = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def onednn_pays(flags: set[str]) -> bool:
    """Whether charbot turns TensorFlow's oneDNN kernels on where TensorFlow leaves them off: AVX2 CPUs
    without AVX-512 or AVX-VNNI (AMD Zen 2 and 3, Intel before Alder Lake). Measured on a Zen 5 capped to
    AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, XLA_FLAGS=--xla_cpu_max_isa=AVX2), which with TF_ENABLE_ONEDNN_OPTS=0 trains
    at 0.82x PyTorch float32 as a Zen 3 does (0.81x): a window's product 200 GFLOP/s on oneDNN, 113 to 123 on
    Eigen; training 2 x LSTM(512) 7.3k to 7.8k chars/s (XLA compiling the loops) against 6.3k to 6.7k (the
    step, on Eigen)."""
    return "avx2" in flags and "avx512f" not in flags and not flags & set(ONEDNN_BY_DEFAULT)


def tensorflow_uses_onednn(flags: set[str], environ=os.environ) -> bool:
    """Whether TensorFlow runs its CPU operations through oneDNN: TF_ENABLE_ONEDNN_OPTS where set, else its
    default for the CPU's flags (the real ones: a oneDNN cap does not change it)."""
    setting = environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if setting in ("0", "false", "1", "true"):
        return setting in ("1", "true")
    return bool(flags & set(ONEDNN_BY_DEFAULT))


def cpu_class(flags: set[str]) -> str:
    """The class of x86-64 CPU that decides which kernels run: what charbot's figures are quoted by."""
    if flags & set(NATIVE_BF16_FLAGS):
        return "AVX-512 with native bfloat16"
    if "avx512f" in flags:
        return "AVX-512, no native bfloat16"
    if "avx2" in flags:
        return "AVX2, no AVX-512"
    return "no AVX2" if flags else "unknown (no CPU flags readable)"


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's marketing name, e.g. 'AMD EPYC 9B14'; the platform's processor string elsewhere."""
    return _cpuinfo_field(("model name",), cpuinfo) or platform.processor() or platform.machine()


def machine() -> dict:
    """The hardware and software a run was trained with, as recorded in metrics.json."""
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_model(),
        "cpu_class": cpu_class(cpu_flags()),
        "cpu_count": os.cpu_count(),
        "tensorflow": tf.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }
