"""Where training runs, with TensorFlow's own tf.distribute: `--strategy auto|one|mirrored|multi-worker`.

- `one`: the default strategy, one device.
- `mirrored`: MirroredStrategy over every local GPU, or over `--cpu-devices N` logical CPU devices
  where there is no GPU (for tests and multi-socket machines).
- `multi-worker`: MultiWorkerMirroredStrategy, configured from the `TF_CONFIG` environment variable.
- `auto`: `mirrored` when more than one GPU is visible; on a CPU of the AVX-512 class with two or more
  cores, `mirrored` over one logical device a core (`cpu_split`); else `one`.

Logical CPU devices share TensorFlow's pool of threads for one operation: split N ways, each operation
gets cores / N of them. On 2 cores (AMD EPYC Zen 5) one thread a replica was measured 1.1x to 1.5x
faster than one device with two threads an operation (`cpu_split`'s docstring): the LSTM's operations are
small, and handing each to two threads costs more than the second thread gives.

Stateful training under a strategy (see `charbot.training.loop`): replica r owns stream rows
[r*B/R, (r+1)*B/R) of the global batch for the whole run and carries its own LSTM state. This module
builds strategies and moves rows between the global batch and the replicas; it does not train.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from charbot.errors import CharbotError
from charbot.system.hardware import kernel_flags

STRATEGIES = ("auto", "one", "mirrored", "multi-worker")


@dataclass
class Placement:
    strategy: Any  # a tf.distribute.Strategy
    name: str  # one | mirrored | multi-worker
    description: str  # for the start of training and metrics.json
    is_chief: bool = True  # whether this process writes checkpoints

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync


def cores() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_split(flags: set[str], cpus: int, batch_size: int) -> int:
    """How many logical devices `--strategy auto` splits a CPU without GPUs into: 0 for none.

    One a core, on CPUs with AVX-512 (where the training step is the plain graph, `trainer.xla_pays`),
    as long as each replica keeps 16 rows or more of the batch. Measured on a 2-core AMD EPYC Zen 5
    (`bench/train_speed.py --peer --layer-norm`, batch 64 x 128, 2 x LSTM(512)): bfloat16 13,382 against
    10,736 chars/s on one device, float32 8,778 against 7,435, layer norm 10,227 against 7,781; in a
    throwaway timing, 2 x LSTM(384) with layer norm at batch 32 (16 rows a replica) 13.9k against 10.0k.
    On AVX2 CPUs one device with XLA (`trainer.xla_pays`) is kept: XLA cannot compile a step over mirrored
    variables, and under oneDNN's AVX2 kernels (the Zen 5 capped) the split plain graph made 6.3k
    against 7.2k for XLA on one device, float32; the split with XLA compiling each replica's loops 7.0k
    against 7.0k to 7.2k on one device (the replicas' XLA calls ran one after the other).
    More than 2 cores was not measured: there the split keeps 16 rows a replica and gives each
    device the remaining threads.
    """
    if "avx512f" not in flags or cpus < 2:
        return 0
    for devices in range(min(cpus, batch_size // 16), 1, -1):
        if batch_size % devices == 0:
            return devices
    return 0


def split_cpu(devices: int) -> None:
    """Split the CPU into `devices` logical devices, each operation on cores / devices threads; must run
    before TensorFlow starts its runtime."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
        tf.config.threading.set_intra_op_parallelism_threads(max(1, cores() // devices))
    except RuntimeError:
        raise CharbotError("--cpu-devices must be set before TensorFlow starts; "
                           "in Python, call charbot.training.distribute.split_cpu first") from None


def place(name: str = "auto", cpu_devices: int = 0, batch_size: int = 0) -> Placement:
    """Build the strategy called `name` (see the module docstring); `auto` splits the CPU (`cpu_split`)
    for a batch of `batch_size` rows, unless `cpu_devices` says how."""
    from charbot.system.quiet import quiet
    from charbot.system.tfload import load_tensorflow

    if name not in STRATEGIES:
        raise CharbotError(f"unknown strategy {name!r}: use one of {', '.join(STRATEGIES)}")
    cluster = _cluster() if name == "multi-worker" else ()  # a bad TF_CONFIG is answered before TensorFlow
    load_tensorflow()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto" and not gpus and not cpu_devices:
        cpu_devices = cpu_split(kernel_flags(), cores(), batch_size)
        name = "mirrored" if cpu_devices else "one"
    if cpu_devices > 1:
        split_cpu(cpu_devices)
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one"
    if name == "one":
        return Placement(tf.distribute.get_strategy(), "one", "one device")
    if name == "mirrored":
        return _mirrored(tf, gpus)
    with quiet():  # gRPC's start-up notes
        return _multi_worker(tf, *cluster)


def _mirrored(tf, gpus) -> Placement:
    if gpus:
        strategy = tf.distribute.MirroredStrategy()
        return Placement(strategy, "mirrored", f"MirroredStrategy over {len(gpus)} GPU(s)")
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    # No NCCL between CPU devices: gradients are summed on one device.
    strategy = tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    threads = tf.config.threading.get_intra_op_parallelism_threads() or cores()
    return Placement(strategy, "mirrored", f"MirroredStrategy over {len(devices)} logical CPU device(s), "
                                           f"{threads} thread(s) an operation")


def _cluster() -> tuple[dict, list, str, int]:
    """(cluster, its workers, this task's type, its index) from TF_CONFIG, or one line saying what it needs."""
    try:
        config = json.loads(os.environ["TF_CONFIG"])
        cluster, task = config["cluster"], config["task"]
        return cluster, cluster["worker"], task["type"], int(task["index"])
    except (KeyError, ValueError, TypeError):
        raise CharbotError("--strategy multi-worker needs TF_CONFIG: a JSON object with cluster.worker "
                           "(a list of host:port) and task (type and index); see the README") from None


def _multi_worker(tf, cluster, workers, task_type, index) -> Placement:
    communication = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.RING)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication)
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster)
    return Placement(strategy, "multi-worker",
                     f"MultiWorkerMirroredStrategy, {len(workers)} worker(s), this is {task_type} {index}",
                     is_chief=chief)


def to_replicas(strategy, value):
    """Rows of a global-batch value (a nest of arrays or tensors, batch first) for each replica."""
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync

    def rows(context):
        r = context.replica_id_in_sync_group

        def take(x):
            local = x.shape[0] // replicas
            return tf.convert_to_tensor(x[r * local : (r + 1) * local])

        return tf.nest.map_structure(take, value)

    return strategy.experimental_distribute_values_from_function(rows)


def from_replicas(strategy, value):
    """The global batch back from per-replica rows (a nest), as NumPy arrays on every worker."""
    import tensorflow as tf

    return tf.nest.map_structure(lambda x: strategy.gather(x, axis=0).numpy(), value)
