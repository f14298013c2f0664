"""Training under tf.distribute stays exact: replicas own fixed stream rows and carry their own state.

Logical CPU devices stand in for GPUs; two local processes on 127.0.0.1 stand in for two machines.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from charbot.model import checkpoint
from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.errors import CharbotError
from charbot.training.trainer import Trainer
from charbot.training.loop import train

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def replica_runs(short_play_file, tmp_path_factory):
    work = tmp_path_factory.mktemp("replicas")
    done = subprocess.run([sys.executable, str(HERE / "replica_runs.py"), str(short_play_file), str(work / "runs")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Replicas split each matrix product and sum gradients in another order than one device, so the
# losses agree to float noise, which training amplifies. The noise floor, measured on an AMD EPYC Zen 3
# (AVX2) by running replica_runs.py under oneDNN's AVX2, AVX and SSE4.1 kernels (ONEDNN_MAX_CPU_ISA)
# and with TF_ENABLE_ONEDNN_OPTS=0, comparing every per-epoch loss of every run (one, two, resumed_two,
# resumed_one) under every kernel set with every other: on the 12-repeat play these runs use, at most
# 9.6e-8 relative (7.4e-8 within one kernel set); on the 30-repeat play they used before, 1.8e-4.
# Real resume bugs move the losses far more: restoring the weights but not the optimizer slots, 5.1e-3
# here under every kernel set (9.0e-3 on the longer play, where zeroing the carried state gave 2.4e-2
# and the dropout masks one window late 3.2e-2). 1e-3 sits between: 5x below the smallest bug, and
# above the floor of the longer runs too.
SAME_RUN_REL = 1e-3


def assert_same_losses(a, b):
    assert len(a) == len(b) == 2
    for (train_a, val_a), (train_b, val_b) in zip(a, b):
        assert train_a == pytest.approx(train_b, rel=SAME_RUN_REL, abs=1e-5)
        assert val_a == pytest.approx(val_b, rel=SAME_RUN_REL, abs=1e-5)


@pytest.mark.slow(seconds=52)
def test_two_replicas_give_the_losses_of_one_device(replica_runs):
    assert replica_runs["replicas"] == 2
    assert_same_losses(replica_runs["one"], replica_runs["two"])


def test_each_replica_continues_its_own_streams(replica_runs):
    windows = replica_runs["layout"]  # [window][replica][x or y][row][time]
    for k in range(len(windows) - 1):
        for replica in range(2):
            x_now, y_now = windows[k][replica]
            x_next, _ = windows[k + 1][replica]
            assert len(x_now) == 2  # global batch 4 over 2 replicas
            for row in range(2):
                assert x_next[row][0] == y_now[row][-1] == x_now[row][-1] + 1
    # Replica 1 holds global rows 2 and 3: their streams start further into the text than replica 0's.
    assert windows[0][1][0][0][0] > windows[0][0][0][1][0]


def test_state_gathered_from_replicas_is_the_global_batch(replica_runs):
    assert replica_runs["gathered"] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_resume_under_two_replicas_is_exact(replica_runs):
    assert_same_losses(replica_runs["one"], replica_runs["resumed_two"])


def test_a_run_started_on_two_replicas_resumes_on_one(replica_runs):
    assert_same_losses(replica_runs["one"], replica_runs["resumed_one"])


def test_the_tolerance_still_refuses_a_real_divergence(replica_runs):
    with pytest.raises(AssertionError):
        assert_same_losses(replica_runs["one"], replica_runs["lost_slots"])


def test_batch_that_does_not_split_over_the_replicas_is_one_clear_line():
    class Three:
        strategy = None
        replicas = 3

    with pytest.raises(CharbotError, match="--batch-size 4 does not split evenly over 3 replicas: use a multiple of 3"):
        Trainer(ModelConfig(vocab_size=5, embedding_dim=4, rnn_units=8, num_layers=1), TrainConfig(batch_size=4), 10,
                placement=Three())


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


TRAIN_ARGS = ["--epochs", "2", "--batch-size", "4", "--seq-len", "16", "--learning-rate", "0.01", "--rnn-units", "24",
              "--num-layers", "2", "--embedding-dim", "8", "--dropout", "0.2", "--patience", "5",
              "--precision", "float32"]


@pytest.mark.slow(seconds=43)
def test_two_workers_on_loopback_match_one_process(short_play_file, tmp_path):
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    command = [sys.executable, "-m", "charbot", "train", "--corpus", str(short_play_file), *TRAIN_ARGS]
    processes = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(config)}
        processes.append(subprocess.Popen([*command, "--strategy", "multi-worker", "--out", str(tmp_path / f"w{index}")],
                                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [p.communicate(timeout=240) for p in processes]
    finally:
        for p in processes:
            p.kill()
    for p, (_, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-2000:]
    assert (tmp_path / "w0" / "latest").is_dir()  # the chief writes checkpoints
    assert not (tmp_path / "w1").exists()  # the other worker does not
    single = train(load_corpus(str(short_play_file)), ModelConfig(embedding_dim=8, rnn_units=24, num_layers=2, dropout=0.2),
                   TrainConfig(batch_size=4, seq_len=16, epochs=2, learning_rate=0.01, warmup_steps=100, patience=5,
                               precision="float32"), tmp_path / "single")
    metrics = checkpoint.load(tmp_path / "w0" / "latest").metrics
    assert metrics["strategy"] == "multi-worker" and metrics["replicas"] == 2
    assert_same_losses([[e["train_loss"], e["val_loss"]] for e in metrics["epochs"]],
                       [[e["train_loss"], e["val_loss"]] for e in single.history])


def test_multi_worker_without_tf_config_is_one_line(short_play_file, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    done = subprocess.run([sys.executable, "-m", "charbot", "train", "--corpus", str(short_play_file), "--strategy",
                           "multi-worker", "--batch-size", "4", "--seq-len", "16", "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "charbot: error: --strategy multi-worker needs TF_CONFIG: a JSON object with cluster.worker (a list of "
        "host:port) and task (type and index); see the README"]


@pytest.mark.parametrize("flags, cpus, batch, devices", [
    ({"avx2", "avx512f", "avx512_bf16"}, 2, 64, 2),  # the measured case: one device a core
    ({"avx2", "avx512f"}, 2, 32, 2),  # 16 rows a replica, as measured with the 2 x 384 model
    ({"avx2", "avx512f"}, 2, 24, 0),  # 12 rows a replica: too few
    ({"avx2", "avx512f"}, 8, 64, 4),  # more cores than 16-row replicas: 4 devices, 2 threads each
    ({"avx2", "avx512f"}, 4, 48, 3),  # the most devices that split the batch evenly
    ({"avx2", "avx512f"}, 2, 33, 0),  # an odd batch cannot be split
    ({"avx2", "avx512f"}, 1, 64, 0),  # one core
    ({"avx2", "fma"}, 2, 64, 0),  # AVX2: one device, XLA-compiled (trainer.xla_pays)
])
def test_auto_splits_the_cpu_only_where_it_was_measured_to_pay(flags, cpus, batch, devices):
    from charbot.training.distribute import cpu_split

    assert cpu_split(flags, cpus, batch) == devices
