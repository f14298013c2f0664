"""The compiled training and validation steps of one run, on one device or a strategy's replicas.

`Trainer` owns the model, the optimizer (Adam on a warm-up + cosine schedule) and the two compiled
steps; it can write and restore its resume state. It is not the loop: epochs, validation, early
stopping, budgets and checkpoints are `charbot.training.loop`'s. It never imports the chat.
"""

from __future__ import annotations

import contextlib

import numpy as np

from charbot.model import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.training.distribute import Placement, from_replicas, place, to_replicas
from charbot.errors import CharbotError
from charbot.system.hardware import cpu_flags, kernel_flags, tensorflow_uses_onednn
from charbot.corpus.streams import StreamLayout


class Trainer:
    """Owns the model, the optimizer and the compiled steps of one training run.

    The step is written for one replica and wrapped by the placement's strategy: each replica runs
    it on its own rows and its own carried state; gradients are summed across replicas, then clipped
    by their global norm, so R replicas compute what one device would with the whole batch.
    """

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, total_steps: int,
                 placement: Placement | None = None, precision: str = "float32", xla: str | None = None):
        """Args:
            xla: what XLA compiles (`XLA_MODES`); None decides by `xla_pays` on this machine."""
        from charbot.model.network import build_model  # first: imports TensorFlow quietly

        import keras
        import tensorflow as tf

        self.tf = tf
        self.config = train_config
        self.placement = placement = placement or place("one")
        self.replicas = placement.replicas
        if train_config.batch_size % self.replicas:
            raise CharbotError(
                f"--batch-size {train_config.batch_size} does not split evenly over {self.replicas} replicas: "
                f"use a multiple of {self.replicas}, or fewer devices"
            )
        keras.utils.set_random_seed(train_config.seed)
        with placement.strategy.scope():
            self.model = build_model(model_config, precision)
            optimizer = _optimizer(keras, train_config, _schedule(train_config, total_steps))
            if precision == "float16":
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            # Slots exist before the first step: created lazily inside strategy.run they would not.
            optimizer.build(self.model.trainable_variables)
        self.optimizer = optimizer
        if xla is None:
            xla = xla_pays(placement.name, kernel_flags(), bool(tf.config.list_physical_devices("GPU")),
                           model_config.rnn_units, tensorflow_uses_onednn(cpu_flags()))
        if xla not in XLA_MODES:
            raise CharbotError(f"unknown XLA mode {xla!r}: use one of {', '.join(XLA_MODES)}")
        self.xla = xla
        self.model.xla_loops = xla == "loops" and self.model.layerwise
        self.train_step = self._compile_train_step()
        self.eval_step, self.replica_eval_step = self._compile_eval_step()

    def _compile_train_step(self):
        tf, model, optimizer, strategy = self.tf, self.model, self.optimizer, self.placement.strategy
        variables = model.trainable_variables
        replicas, clip = self.replicas, self.config.clip_norm
        global_chars = float(self.config.batch_size * self.config.seq_len)
        scale = getattr(optimizer, "dynamic_scale", None)  # float16 loss scaling, else None

        def replica_step(x, y, states, seed):
            local = tf.shape(x)[0]
            first = tf.distribute.get_replica_context().replica_id_in_sync_group * local
            with tf.GradientTape() as tape:
                logits, new_states = model(x, states, training=True, dropout_seed=seed, rows=(first, local * replicas))
                losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
                loss = tf.reduce_sum(losses) / global_chars  # this replica's share of the global mean
                scaled = optimizer.scale_loss(loss)
            gradients = [tf.convert_to_tensor(g) for g in tape.gradient(scaled, variables)]
            if replicas > 1:
                gradients = tf.distribute.get_replica_context().all_reduce("sum", gradients)
            norm = tf.linalg.global_norm(gradients) / (scale if scale is not None else 1.0)
            # Clip the global gradient as one device would; the optimizer sums the replicas' copies
            # again, so each passes 1/R of it (an infinite float16 norm makes NaN: the step is skipped).
            factor = clip / tf.maximum(norm, clip) / replicas
            optimizer.apply([g * factor for g in gradients], variables)
            return loss, new_states

        # autograph=False: no Python control flow here depends on a tensor (lstm.py writes its loops as
        # tf.while_loop), and converting the code cost each run's first trace about 2 s.
        @tf.function(reduce_retracing=True, jit_compile=self.xla == "step", autograph=False)
        def train_step(x, y, states, seed):
            loss, new_states = strategy.run(replica_step, args=(x, y, states, seed))
            return strategy.reduce("sum", loss, axis=None), new_states

        return train_step

    def _compile_eval_step(self):
        """(one-device step, replicas' step or None): validation runs on the replicas of a mirrored
        placement (on one logical device a core, one device would have one thread)."""
        tf, model, strategy = self.tf, self.model, self.placement.strategy

        def losses_of(x, y, states):
            logits, new_states = model(x, states, training=False)
            losses = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            return tf.reduce_sum(losses), new_states

        @tf.function(reduce_retracing=True, autograph=False)
        def on_replicas(x, y, states):
            loss, new_states = strategy.run(losses_of, args=(x, y, states))
            return strategy.reduce("sum", loss, axis=None), new_states

        mirrored = self.placement.name == "mirrored" and self.replicas > 1
        return tf.function(losses_of, reduce_retracing=True, autograph=False), on_replicas if mirrored else None

    def to_replicas(self, value):
        return to_replicas(self.placement.strategy, value)

    def zero_state(self):
        return self.to_replicas(self.model.zero_state(self.config.batch_size))

    def step(self, x: np.ndarray, y: np.ndarray, states, seed: tuple[int, int]):
        """One training window of the global batch: (mean loss, carried state per replica)."""
        tf = self.tf
        loss, states = self.train_step(self.to_replicas(x), self.to_replicas(y), states,
                                       tf.constant(seed, tf.int32))
        return float(loss), states

    @contextlib.contextmanager
    def averaged(self):
        """Inside the block the model holds the moving average of its weights (--ema), after it the
        trained weights again; without --ema it changes nothing."""
        if not self.config.ema:
            yield
            return
        variables = self.model.trainable_variables
        kept = [variable.numpy() for variable in variables]
        getattr(self.optimizer, "inner_optimizer", self.optimizer).finalize_variable_values(variables)
        try:
            yield
        finally:
            for variable, value in zip(variables, kept):
                variable.assign(value)

    def learning_rate(self) -> float:
        return float(self.optimizer.learning_rate)

    def evaluate(self, layout: StreamLayout) -> float:
        """Mean loss (nats/char) over every character of the layout, state carried throughout.

        Runs on the replicas of a mirrored placement, each on its rows, where they split the layout's;
        otherwise on one device of each worker (every worker computes the same figure)."""
        tf, rows = self.tf, layout.inputs.shape[0]
        states = self.model.zero_state(rows)
        step, feed = self.eval_step, tf.constant
        if self.replica_eval_step is not None and rows % self.replicas == 0:
            step, feed, states = self.replica_eval_step, self.to_replicas, self.to_replicas(states)
        total, count = 0.0, 0
        for x, y in layout.windows():
            loss_sum, states = step(feed(x), feed(y), states)
            total += float(loss_sum)
            count += x.size
        return total / count

    # --- resume state ---------------------------------------------------------------------------

    def resume_arrays(self, states) -> dict[str, np.ndarray]:
        """Optimizer slots and the carried state of the whole global batch (gathered from replicas)."""
        arrays = {f"optimizer/{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(self.optimizer.variables)}
        for layer, (h, c) in enumerate(from_replicas(self.placement.strategy, states)):
            arrays[f"state/{layer}/h"] = h
            arrays[f"state/{layer}/c"] = c
        return arrays

    def restore(self, data: checkpoint.CheckpointData):
        """Weights, optimizer slots and carried state from a `latest/` checkpoint (any replica count)."""
        from charbot.model import network

        network.assign_weights(self.model, data)
        arrays = data.resume_arrays
        for i, variable in enumerate(self.optimizer.variables):
            value = arrays.get(f"optimizer/{i:04d}")
            if value is None or tuple(value.shape) != tuple(variable.shape):
                raise CharbotError(f"checkpoint {data.path}: resume.npz does not match this model's optimizer")
            variable.assign(value)
        states = []
        for layer in range(self.model.config.num_layers):
            h = arrays.get(f"state/{layer}/h")
            c = arrays.get(f"state/{layer}/c")
            if h is None or c is None:
                raise CharbotError(f"checkpoint {data.path}: resume.npz lacks the carried state of layer {layer}")
            states.append((h, c))
        return self.to_replicas(tuple(states))


XLA_MODES = ("off", "loops", "step")  # what of the training step XLA compiles


def xla_pays(strategy: str, flags: set[str], gpu: bool, rnn_units: int, onednn: bool) -> str:
    """What of the training step XLA compiles on this machine (`XLA_MODES`): "step", all of it; "loops",
    the LSTM's loops through time (`lstm._compiled`), the window products left to TensorFlow; or "off".

    Only on AVX2 CPUs, on one device (on AVX-512 ones the CPU is split and the plain graph runs: XLA ran
    at 0.67x it there, 8.3k against 12.4k chars/s), for layers of 128 units or more (compiling costs
    seconds, 9 s more for 2 x 512, that a small model never earns back). Measured with 2 x LSTM(512),
    batch 64 x 128, float32, the Zen 5 rows capped to AVX2 (ONEDNN_MAX_CPU_ISA, XLA_FLAGS=--xla_cpu_max_isa):
    - TensorFlow on Eigen (`onednn` False: its default on AVX2 CPUs without AVX-VNNI, AMD Zen 2 and 3): the
      step. Its products there run in small oneDNN sgemm blocks, slower than XLA's: on a Zen 3 XLA
      ran 3,347 to 3,694 chars/s against 2,815 to 2,951 for the plain graph; on the Zen 5 with
      TF_ENABLE_ONEDNN_OPTS=0 the step 6,383 and 6,674, the loops alone 6,331 and 6,484.
    - TensorFlow on oneDNN (its default on AVX2 CPUs with AVX-VNNI, Intel Alder Lake and later): the loops,
      the window products to oneDNN (200 GFLOP/s, XLA's 115 to 130): the loops 7,783 to 8,146 against
      6,938 to 7,332 for the step on the Zen 5 (interleaved, three runs each).
    """
    if strategy != "one" or gpu or "avx512f" in flags or "avx2" not in flags or rnn_units < 128:
        return "off"
    return "loops" if onednn else "step"


def _optimizer(keras, config: TrainConfig, schedule):
    """Adam, or AdamW when --weight-decay is set (decoupled decay), keeping an EMA of the weights with --ema.

    Decay spares layer normalisation's gains and shifts (`gates_gamma`, `cell_beta`, ...): pulling a
    gain towards 0 would scale the normalised gates down, not regularise them."""
    ema = {"use_ema": True, "ema_momentum": config.ema} if config.ema > 0 else {}
    if config.weight_decay > 0:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=config.weight_decay, **ema)
        optimizer.exclude_from_weight_decay(var_names=["_gamma", "_beta"])
        return optimizer
    return keras.optimizers.Adam(learning_rate=schedule, **ema)


def _schedule(config: TrainConfig, total_steps: int):
    """Linear warm-up to the peak, then cosine decay to `min_learning_rate_ratio` of it."""
    import keras

    warmup = max(1, min(config.warmup_steps, total_steps // 10))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate / warmup, decay_steps=max(1, total_steps - warmup),
        alpha=config.min_learning_rate_ratio, warmup_target=config.learning_rate, warmup_steps=warmup,
    )
