"""kill -9 anywhere in a training run, then --resume: the run ends with the losses of one never killed.

Real processes, SIGKILL at random moments (seeded, so a failure can be replayed), some of them the
moment a checkpoint's temporary folder appears, that is inside a checkpoint write.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from charbot.model import checkpoint

TRAIN = ["--batch-size", "4", "--seq-len", "16", "--rnn-units", "16", "--num-layers", "1", "--embedding-dim", "8",
         "--epochs", "3", "--learning-rate", "0.01", "--patience", "5", "--precision", "float32"]
KILLS = 6  # every third inside a write of latest/; CHARBOT_CRASH_SEED replays or varies the moments
BUDGET_S = 600  # the whole test, kills and runs, is bounded


def command(corpus, out, resume):
    return [sys.executable, "-m", "charbot", "train", "--corpus", str(corpus), "--out", str(out), *TRAIN,
            *(["--resume"] if resume else [])]


def losses(out):
    metrics = json.loads((out / "latest" / "metrics.json").read_text())
    return [(e["train_loss"], e["val_loss"]) for e in metrics["epochs"]]


def training(process, out) -> bool:
    """Whether `process` holds the run's lock, that is, has started training."""
    try:
        return json.loads((out / "train.lock").read_text())["pid"] == process.pid
    except (OSError, ValueError, KeyError):
        return False


def wait_for_training(process, out, deadline: float) -> float:
    """Wait until `process` trains (or ends); the time it started."""
    while process.poll() is None and not training(process, out) and time.monotonic() < deadline:
        time.sleep(0.01)
    return time.monotonic()


def kill_during(process, out, rng, in_write: bool, span: float, deadline: float) -> None:
    """SIGKILL `process` a random time into its training (up to `span` s); with `in_write`, at its first
    write of latest/, the moment the temporary folder appears."""
    kill_at = min(wait_for_training(process, out, deadline) + rng.uniform(0.0, span), deadline)
    while not in_write and process.poll() is None and time.monotonic() < kill_at:
        time.sleep(0.01)
    while in_write and process.poll() is None and time.monotonic() < deadline:
        if any(p.name.startswith(".latest.tmp") for p in os.scandir(out)):
            break
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow(seconds=90)
def test_sigkill_at_random_moments_then_resume_ends_as_an_uninterrupted_run(short_play_file, tmp_path):
    started = time.monotonic()
    deadline = started + BUDGET_S
    straight = tmp_path / "straight"
    done = subprocess.Popen(command(short_play_file, straight, False), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    began = wait_for_training(done, straight, deadline)
    assert done.wait(timeout=300) == 0, done.stderr.read()
    span = time.monotonic() - began  # how long the training itself takes: kills land anywhere in it
    rng = random.Random(int(os.environ.get("CHARBOT_CRASH_SEED", "20261128")))
    out, survived, inside = tmp_path / "killed", 0, 0
    for k in range(KILLS):
        resume = (out / "latest").is_dir()
        process = subprocess.Popen(command(short_play_file, out, resume), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        kill_during(process, out, rng, in_write=k % 3 == 2, span=span, deadline=deadline)
        inside += any(p.name.startswith(".latest.tmp") for p in out.iterdir())  # killed mid-write
        err = process.stderr.read()
        assert "Traceback" not in err, err
        if (out / "latest").is_dir():  # whatever is there loads whole: never half a checkpoint
            checkpoint.load(out / "latest", with_resume=True)
            survived += 1
        assert time.monotonic() < deadline, f"the test ran past {BUDGET_S} s after {k + 1} kills"
    resume = (out / "latest").is_dir()
    final = subprocess.run(command(short_play_file, out, resume), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    assert len(losses(out)) == 3
    assert not [p.name for p in out.iterdir() if p.name.startswith(".latest.tmp")]  # a killed write's leftovers go
    for (train_a, val_a), (train_b, val_b) in zip(losses(out), losses(straight)):
        assert train_a == pytest.approx(train_b, rel=1e-4, abs=1e-5)
        assert val_a == pytest.approx(val_b, rel=1e-4, abs=1e-5)
    assert survived >= KILLS // 3, f"only {survived} kills came after a checkpoint: the test did not test resume"
    print(f"{KILLS} kills ({span:.1f} s of training each run), {inside} inside a write of latest/, {survived} "
          "after a checkpoint that loaded whole; the run resumed and matched")
