"""The command line as a person uses it: real processes, real exit codes, one-line errors."""

import os
import subprocess
import sys

import pytest


def charbot(*args, stdin=None, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "charbot", *args], input=stdin, capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "x", "--temp", "-1"], "temperature must be 0 or more"),
        (["generate", "x", "--temp", "nan"], "temperature must be a finite number"),
        (["generate", "x", "--temp", "inf"], "temperature must be a finite number"),
        (["generate", "x", "--temp", "warm"], "temperature must be a number, not 'warm'"),
        (["generate", "x", "--len", "0"], "length must be a whole number above 0"),
        (["generate", "x", "--len", "999999999"], "too large"),
        (["generate", "x", "--top-p", "1.5"], "top-p must be above 0 and at most 1"),
        (["generate", "x", "--top-p", "0"], "top-p must be above 0 and at most 1"),
        (["generate", "x", "--top-k", "0"], "top-k must be 1 or more"),
        (["train", "--batch-size", "0"], "must be 1 or more"),
        (["train", "--bogus"], "unrecognized arguments: --bogus"),
        (["train", "--precision", "half"], "invalid choice: 'half'"),
        (["train", "--strategy", "tpu"], "invalid choice: 'tpu'"),
        (["train", "--cpu-devices", "0"], "must be 1 or more"),
        (["frobnicate"], "unrecognized arguments: frobnicate"),
    ],
)
def test_bad_flags_get_one_line_and_status_2(args, message):
    result = charbot(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "x", "--checkpoint", "/no/such/folder"], "checkpoint /no/such/folder does not exist"),
        (["info", "/no/such/folder"], "checkpoint /no/such/folder does not exist"),
        (["train", "--corpus", "/no/such/file.txt"], "corpus file /no/such/file.txt does not exist"),
        (["corpus", "show", "nonesuch"], "unknown corpus 'nonesuch'"),
    ],
)
def test_bad_files_get_one_line_and_status_1(args, message):
    result = charbot(*args)
    assert result.returncode == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_invalid_utf8_corpus_names_the_offset(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(("Caf" + "é" * 1).encode("latin-1") + b" and more text" * 20)
    result = charbot("train", "--corpus", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "not valid UTF-8 (bad byte at offset 3)" in result.stderr


def test_corpus_too_small_for_batch_names_the_setting(tmp_path, play_file):
    result = charbot("train", "--corpus", str(play_file), "--out", str(tmp_path / "run"), "--batch-size", "64",
                     "--seq-len", "512")
    assert result.returncode == 1
    assert "lower --batch-size or --seq-len" in result.stderr


def test_generate_is_reproducible_and_plain_when_piped(tiny_checkpoint):
    args = ["generate", "WREN:", "--checkpoint", str(tiny_checkpoint), "--len", "80", "--temp", "0.8"]
    first, again, other = charbot(*args, "--seed", "7"), charbot(*args, "--seed", "7"), charbot(*args, "--seed", "8")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout != other.stdout
    assert first.stdout.startswith("WREN:") and "\x1b[" not in first.stdout
    assert "seed 7" in first.stderr


def test_generate_several_samples_and_a_stop_sequence(tiny_checkpoint):
    result = charbot("generate", "WREN:", "--checkpoint", str(tiny_checkpoint), "-n", "3", "--seed", "1",
                     "--stop", "\\n\\n", "--len", "300")
    assert result.returncode == 0, result.stderr
    samples = result.stdout.split("── sample ")[1:]
    assert len(samples) == 3
    for sample in samples:
        body = sample.split("──\n", 1)[1]
        assert body.count("\n\n") <= 1 and (body.endswith("\n\n") or len(body) >= 300)


def test_generate_warns_about_unknown_characters(tiny_checkpoint):
    result = charbot("generate", "WREN: 東京", "--checkpoint", str(tiny_checkpoint), "--len", "10", "--seed", "1")
    assert result.returncode == 0
    assert "skipped characters the model does not know: '東', '京'" in result.stderr


def test_info_shows_the_validation_loss(tiny_checkpoint):
    result = charbot("info", str(tiny_checkpoint))
    assert result.returncode == 0, result.stderr
    assert "validation loss" in result.stdout and "nats/char" in result.stdout and "bits/char" in result.stdout
    assert "harbour.txt" in result.stdout


def test_corpus_list_shows_shakespeare_with_its_sha256():
    import json

    from charbot.corpus import manifest_path

    result = charbot("corpus", "list", env_extra={"COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    assert "shakespeare" in result.stdout
    assert json.loads(manifest_path("shakespeare").read_text())["sha256"] in result.stdout


@pytest.mark.slow(seconds=26)
def test_train_then_resume_from_the_command_line(tmp_path, play_file):
    out = tmp_path / "run"
    common = ["train", "--corpus", str(play_file), "--out", str(out), "--batch-size", "4", "--seq-len", "16",
              "--rnn-units", "16", "--num-layers", "1", "--embedding-dim", "8"]
    first = charbot(*common, "--epochs", "1")
    assert first.returncode == 0, first.stderr
    assert "training ended after" in first.stdout and ": its one epoch done" in first.stdout
    again = charbot(*common, "--epochs", "1")
    assert again.returncode == 1 and "add --resume" in again.stderr
    resumed = charbot("train", "--corpus", str(play_file), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert (out / "best" / "manifest.json").is_file()


def test_help_does_not_import_tensorflow():
    code = "import sys; from charbot.cli import build_parser; build_parser(); print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False"


def test_a_bad_corpus_is_answered_before_tensorflow_loads():
    code = ("import sys; from charbot.cli import main; status = main(['train', '--corpus', '/no/such.txt']); "
            "print(status, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "1 False" and "does not exist" in result.stderr


def test_a_folder_that_holds_a_run_is_answered_before_tensorflow_loads(tmp_path, play_file):
    (tmp_path / "run" / "latest").mkdir(parents=True)
    code = (f"import sys; from charbot.cli import main; status = main(['train', '--corpus', {str(play_file)!r}, "
            f"'--out', {str(tmp_path / 'run')!r}]); print(status, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "1 False" and "already holds a run: add --resume" in result.stderr


@pytest.mark.slow(seconds=23)
def test_ctrl_c_during_training_saves_a_resumable_checkpoint_and_exits_0(tmp_path, play_file):
    import signal
    import time

    from charbot.model import checkpoint

    out = tmp_path / "run"
    big = tmp_path / "big.txt"
    big.write_text(play_file.read_text() * 5)  # the first epoch a few seconds long: Ctrl-C lands in a later one
    process = subprocess.Popen(
        [sys.executable, "-m", "charbot", "train", "--corpus", str(big), "--out", str(out), "--batch-size", "8",
         "--seq-len", "32", "--rnn-units", "64", "--num-layers", "1", "--epochs", "50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "latest").exists() and time.monotonic() < deadline:  # wait for the first epoch's save
        time.sleep(0.2)
    time.sleep(0.5)  # now in the middle of the second epoch
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "continue with --resume" in stdout
    assert "training ended after" in stdout and ": Ctrl-C" in stdout  # what stopped it, in the summary
    assert checkpoint.load(out / "latest").metrics["stop_reason"] == "Ctrl-C"
    resume = checkpoint.load(out / "latest", with_resume=True).resume
    assert resume["epoch"] >= 1
    assert not list(tmp_path.glob("run/.*"))  # no half-written temporary folders


def test_checkpoint_accepts_a_run_folder_and_a_shipped_name(tiny_run):
    from_run = charbot("generate", "WREN:", "--checkpoint", str(tiny_run), "--seed", "3", "--len", "40")
    from_best = charbot("generate", "WREN:", "--checkpoint", str(tiny_run / "best"), "--seed", "3", "--len", "40")
    assert from_run.returncode == 0, from_run.stderr
    assert from_run.stdout == from_best.stdout and len(from_run.stdout) > len("WREN:")
    info = charbot("info", "shakespeare")
    assert info.returncode == 0 and "checkpoints/shakespeare" in " ".join(info.stdout.split())


def test_generate_reads_the_seed_text_from_stdin(tiny_checkpoint):
    args = ["generate", "-", "--checkpoint", str(tiny_checkpoint), "--seed", "4", "--len", "30"]
    from_stdin = charbot(*args, stdin="WREN:\nThe morning")
    direct = charbot(*[a if a != "-" else "WREN:\nThe morning" for a in args])
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert from_stdin.stdout == direct.stdout and from_stdin.stdout.startswith("WREN:\nThe morning")


def test_generate_from_stdin_that_is_not_utf8_is_one_line(tiny_checkpoint):
    result = subprocess.run([sys.executable, "-m", "charbot", "generate", "-", "--checkpoint", str(tiny_checkpoint)],
                            input=b"WREN: caf\xe9", capture_output=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines()[-1] == (
        "charbot: error: standard input is not UTF-8 text (byte 9 is invalid): convert it, e.g. with iconv")


def test_info_and_model_as_the_first_lines_of_a_script(tiny_checkpoint):
    result = charbot("--checkpoint", str(tiny_checkpoint), stdin="/info\n/model\n")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "model" in result.stdout and str(tiny_checkpoint) in result.stdout


def test_generate_with_a_100k_seed_primes_its_tail(tiny_checkpoint):
    from conftest import play_text

    seed_text = (play_text(400) * 2)[:100_000]
    result = charbot("generate", "-", "--checkpoint", str(tiny_checkpoint), "--seed", "1", "--len", "20",
                     stdin=seed_text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(seed_text) and len(result.stdout) > len(seed_text)


def test_tables_to_a_pipe_keep_whole_values_and_json_is_there(tiny_checkpoint):
    import json

    listing = charbot("corpus", "list")
    assert listing.returncode == 0
    header, row = listing.stdout.splitlines()[:2]
    assert header.split("\t")[:4] == ["name", "characters", "distinct", "sha256"]
    assert len(row.split("\t")[3]) == 64  # the sha256 in one piece
    corpora = json.loads(charbot("corpus", "list", "--json").stdout)
    assert corpora[0]["name"] == "shakespeare" and len(corpora[0]["sha256"]) == 64
    info = charbot("info", str(tiny_checkpoint))
    assert f"checkpoint: {tiny_checkpoint}" in info.stdout.splitlines()
    described = json.loads(charbot("info", str(tiny_checkpoint), "--json").stdout)
    assert described["model"]["rnn_units"] == 48 and described["parameters"] > 0


@pytest.mark.slow(seconds=17)
def test_train_on_a_folder_records_each_file(tmp_path):
    from conftest import play_text

    folder = tmp_path / "plays"
    folder.mkdir()
    (folder / "one.txt").write_text(play_text(15))
    (folder / "two.txt").write_text(play_text(15).replace("WREN", "ROOK"))
    done = charbot("train", "--corpus", str(folder / "one.txt"), str(folder / "two.txt"), "--out", str(tmp_path / "run"),
                   "--epochs", "1", "--batch-size", "4", "--seq-len", "16", "--rnn-units", "16", "--num-layers", "1")
    assert done.returncode == 0, done.stderr
    info = charbot("info", str(tmp_path / "run")).stdout
    assert f"{folder / 'one.txt'} (" in info and f"{folder / 'two.txt'} (" in info and "2-files" in info


@pytest.mark.slow(seconds=17)
def test_a_really_full_disk_while_training_is_one_line_and_leaves_no_partial_folder(tmp_path, play_file):
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=150k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        result = charbot("train", "--corpus", str(play_file), "--out", str(disk / "run"), "--rnn-units", "64",
                         "--max-steps", "3", "--batch-size", "4", "--seq-len", "16")
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == [
            f"charbot: error: no space left on the disk while writing the checkpoint {disk / 'run' / 'best'}: "
            "free some space, then run again"]
        assert not [p for p in (disk / "run").iterdir() if p.name.startswith(".")]
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
