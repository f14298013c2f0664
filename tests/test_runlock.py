"""One run folder, one trainer: real processes contend for the lock."""

import json
import os
import socket
import subprocess
import sys
import time

from charbot.config import ModelConfig, TrainConfig
from charbot.corpus import load_corpus
from charbot.system.runlock import LOCK_NAME
from charbot.training.loop import train
from charbot.training.reporting import Reporter

TINY = ["--epochs", "50", "--batch-size", "4", "--seq-len", "16", "--rnn-units", "16", "--num-layers", "1",
        "--embedding-dim", "8", "--patience", "50"]


def charbot_train(out, corpus, *extra):
    return [sys.executable, "-m", "charbot", "train", "--corpus", str(corpus), "--out", str(out), *TINY, *extra]


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path, play_file):
    out = tmp_path / "run"
    first = subprocess.Popen(charbot_train(out, play_file), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_NAME).exists():
            assert first.poll() is None and time.monotonic() < deadline, "the first trainer never took the lock"
            time.sleep(0.2)
        second = subprocess.run(charbot_train(out, play_file, "--resume"), capture_output=True, text=True, timeout=120)
        while not first.stdout.readline().startswith("training on"):  # its first line: the loop is about to start
            assert first.poll() is None, "the first trainer ended before it trained"
    finally:
        first.terminate()  # SIGTERM stops a run the way Ctrl-C does: it saves and lets go of the lock
        stopped = first.wait(timeout=60)
    assert stopped == 0
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"charbot: error: {out} is being trained by process {first.pid}: wait for it, stop it, or pick another --out"]
    assert not (out / LOCK_NAME).exists()  # the first released it when it stopped


def test_a_stale_lock_is_taken_over_with_a_note(tmp_path, play_file):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": gone.pid, "host": socket.gethostname()}))
    notes = []
    result = train(load_corpus(str(play_file)), ModelConfig(embedding_dim=8, rnn_units=16, num_layers=1),
                   TrainConfig(batch_size=4, seq_len=16, epochs=1, warmup_steps=2), out,
                   reporter=_Notes(notes))
    assert result.history
    assert notes == [f"taking over the lock of process {gone.pid}, which is gone (a crashed or killed run)"]
    assert not (out / LOCK_NAME).exists()


def test_a_lock_held_on_another_host_names_the_file(tmp_path, play_file):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"pid": os.getpid(), "host": "elsewhere.example"}))
    done = subprocess.run(charbot_train(out, play_file), capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"is being trained by process {os.getpid()} on elsewhere.example; if that run is over, delete " \
           f"{out / LOCK_NAME}" in done.stderr


class _Notes(Reporter):
    def __init__(self, notes):
        self.notes = notes

    def on_note(self, text):
        self.notes.append(text)
