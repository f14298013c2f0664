"""Which number format training computes in, and why: `--precision auto|float32|bfloat16|float16`.

`auto` reads the hardware: float16 on CUDA GPUs of compute capability 7.0 or more (tensor cores),
bfloat16 on CPUs that compute it natively (the avx512_bf16 or amx_bf16 CPU flags), float32 otherwise.
The choice becomes a Keras mixed-precision policy in `charbot.model.network`; variables stay float32 either
way, so checkpoints do not change. This module decides only; it does not build or train anything.
"""

from __future__ import annotations

from charbot.errors import CharbotError
from charbot.system.hardware import (NATIVE_BF16_FLAGS, ONEDNN_BELOW_AVX512, bfloat16_crashes_tensorflow, cpu_flags,
                                     onednn_isa_cap, tensorflow_uses_onednn)

PRECISIONS = ("auto", "float32", "bfloat16", "float16")


def choose(requested: str, gpus: list[tuple[int, int] | None], flags: set[str],
           isa_cap: str | None = None, onednn: bool = True) -> tuple[str, str]:
    """(precision, why) for `requested`, given the GPUs' compute capabilities, the CPU flags, the ISA
    oneDNN is capped at (`hardware.onednn_isa_cap`) and whether TensorFlow's kernels are oneDNN's."""
    if requested not in PRECISIONS:
        raise CharbotError(f"unknown precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    native = sorted(flags & set(NATIVE_BF16_FLAGS))
    if not gpus and native and isa_cap in ONEDNN_BELOW_AVX512:
        if requested == "bfloat16" and bfloat16_crashes_tensorflow(flags, isa_cap, onednn):
            raise CharbotError(f"--precision bfloat16 with ONEDNN_MAX_CPU_ISA={isa_cap} crashes TensorFlow on this "
                               "CPU (a segfault in oneDNN's bfloat16 matmul): unset ONEDNN_MAX_CPU_ISA, or use "
                               "--precision float32")
        if requested == "auto":
            return "float32", f"no GPU, and ONEDNN_MAX_CPU_ISA={isa_cap} keeps oneDNN off this CPU's bfloat16"
    if requested == "bfloat16" and not gpus and not native:
        return requested, ("asked for with --precision, but this CPU has no native bfloat16 (no avx512_bf16 or "
                           "amx_bf16 flag): it is emulated, slower than float32")
    if requested != "auto":
        return requested, "asked for with --precision"
    if gpus:
        capability = gpus[0]
        if capability and capability >= (7, 0):
            return "float16", f"CUDA GPU of compute capability {capability[0]}.{capability[1]} (tensor cores)"
        return "float32", "this GPU has no tensor cores for float16 (compute capability below 7.0)"
    if native:
        return "bfloat16", f"this CPU computes bfloat16 natively ({', '.join(native)})"
    return "float32", "no GPU, and this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag)"


def choose_here(requested: str) -> tuple[str, str]:
    """`choose` for this machine."""
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(gpu).get("compute_capability")
            for gpu in tf.config.list_physical_devices("GPU")]
    return choose(requested, gpus, cpu_flags(), onednn_isa_cap(), tensorflow_uses_onednn(cpu_flags()))
