"""Helpers shared by the benchmarks: the model under test and a machine description."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def machine_line() -> str:
    """The CPU by name, its cores and native bfloat16, the GPUs, and the software; TensorFlow loaded quietly."""
    from charbot.system.hardware import cpu_flags, machine, tensorflow_uses_onednn
    from charbot.system.tfload import load_tensorflow

    load_tensorflow()
    m = machine()
    kernels = f"; TensorFlow's kernels: {'oneDNN' if tensorflow_uses_onednn(cpu_flags()) else 'Eigen'}"
    caps = [f"{name}={os.environ[name]}" for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS")
            if os.environ.get(name)]
    caps += [flag for flag in os.environ.get("XLA_FLAGS", "").split() if flag.startswith("--xla_cpu_max_isa")]
    kernels += f" (set: {' '.join(caps)})" if caps else ""
    return (f"{m['cpu']} ({m['processor']}), {m['cpu_count']} cores, {m['cpu_class']}{kernels}, "
            f"GPUs: {m['gpus'] or 'none'}; "
            f"{platform.system()}, Python {platform.python_version()}, TensorFlow {m['tensorflow']}")


def header() -> str:
    """The two lines every benchmark starts with: the machine, and the command that ran it."""
    return f"machine: {machine_line()}\ncommand: .venv/bin/python {' '.join(sys.argv)}"


def model_under_test():
    """(model, vocab, description): the shipped model if there is one, else 2x512 random weights."""
    from charbot.model import names, network
    from charbot.config import ModelConfig
    from charbot.model.network import build_model
    from charbot.model.vocab import Vocabulary

    path = names.default_checkpoint()
    if (path / "manifest.json").is_file():
        model, data = network.load_model(path)
        return model, data.vocab, f"shipped model {path.name}: {data.model_config}"
    import keras

    keras.utils.set_random_seed(0)
    vocab = Vocabulary.from_text("".join(chr(c) for c in range(32, 127)) + "\n")
    config = ModelConfig(vocab_size=len(vocab), embedding_dim=64, rnn_units=512, num_layers=2)
    return build_model(config), vocab, f"random weights: {config}"
