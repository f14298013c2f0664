"""The persistent XLA cache: used when whole, never in the way when damaged."""

import json
import os
import subprocess
import sys

import pytest

from charbot.system import xlacache


def test_only_entries_the_manifest_vouches_for_are_kept(tmp_path):
    good, changed, stranger = (tmp_path / f"{name}.pb" for name in ("good", "changed", "stranger"))
    good.write_bytes(b"compiled code")
    changed.write_bytes(b"compiled code too")
    xlacache.record(tmp_path)
    changed.write_bytes(b"compiled cod\x00 too")  # damaged after it was recorded
    stranger.write_bytes(b"written by a run that was killed before it could record")
    assert sorted(xlacache.drop_unverified(tmp_path)) == ["changed.pb", "stranger.pb"]
    assert [p.name for p in tmp_path.glob("*.pb")] == ["good.pb"]
    (tmp_path / xlacache.MANIFEST).write_text("{not json")
    assert xlacache.drop_unverified(tmp_path) == ["good.pb"]


def test_the_folder_is_keyed_by_versions_the_cpu_and_xla_flags(monkeypatch):
    from importlib.metadata import version

    from charbot import __version__

    monkeypatch.delenv("XLA_FLAGS", raising=False)
    here = xlacache.folder().name
    assert here.startswith(f"tensorflow-{version('tensorflow')}-charbot-{__version__}-cpu-")
    monkeypatch.setenv("XLA_FLAGS", "  ")  # blank: the same options as none
    assert xlacache.folder().name == here
    # XLA's fingerprint of a computation leaves its options out: a cache entry compiled under
    # another XLA_FLAGS was served in place of a new compile (a YNNPACK dot ran at the default's speed)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2")
    capped = xlacache.folder().name
    assert capped.startswith(here + "-xla-")
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_max_isa=AVX2 --xla_cpu_enable_fast_math=true")
    assert xlacache.folder().name not in (here, capped)
    monkeypatch.delenv("XLA_FLAGS")
    monkeypatch.setattr(xlacache, "cpu_flags", lambda: {"sse2", "avx2"})  # another machine
    assert xlacache.folder().name != here


def generate(tiny_checkpoint, cache_home, **env):
    return subprocess.run(
        [sys.executable, "-m", "charbot", "generate", "WREN:", "--checkpoint", str(tiny_checkpoint), "--seed", "2",
         "--len", "40", "--runtime", "tf"], capture_output=True, text=True, timeout=300,
        env={**{k: v for k, v in os.environ.items() if k != "TF_XLA_FLAGS"}, "XDG_CACHE_HOME": str(cache_home), **env})


def test_charbot_xla_cache_0_turns_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CHARBOT_XLA_CACHE", "0")
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    assert xlacache.enable() is None
    assert "TF_XLA_FLAGS" not in os.environ and not (tmp_path / "charbot" / "xla").exists()


@pytest.mark.slow(seconds=42)
def test_a_damaged_cache_never_stops_charbot(tiny_checkpoint, tmp_path):
    """The first run compiles and fills the cache; what it prints is what any run without a cache prints
    (the cache only keeps code after compiling it)."""
    first = generate(tiny_checkpoint, tmp_path / "cache")
    folder = tmp_path / "cache" / "charbot" / "xla" / xlacache.folder().name
    entries = sorted(folder.glob("*.pb"))
    assert entries and set(json.loads((folder / xlacache.MANIFEST).read_text())) == {p.name for p in entries}
    second = generate(tiny_checkpoint, tmp_path / "cache")
    assert sorted(folder.glob("*.pb")) == entries  # the second run compiled nothing new
    for entry in entries:
        entry.write_bytes(b"\x08\x01garbage")
    damaged = generate(tiny_checkpoint, tmp_path / "cache")
    assert first.returncode == second.returncode == damaged.returncode == 0, damaged.stderr
    assert first.stdout == second.stdout == damaged.stdout
