"""The wheel carries the corpus manifests and the shipped models, so an installed charbot finds them; and
installed without extras (the light install) it chats and generates without TensorFlow."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("charbot", "corpora", "checkpoints"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(folder / "dist"), str(source)], check=True, capture_output=True)
    (built,) = (folder / "dist").glob("charbot-*.whl")
    return built


def test_wheel_contains_the_package_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "charbot/corpora/shakespeare.json" in names
    assert "charbot/cli.py" in names
    for package in ("corpus", "model", "training", "generate", "chat", "system"):
        assert f"charbot/{package}/__init__.py" in names
    assert "charbot/generate/litert.py" in names
    shipped = [p for p in (ROOT / "checkpoints").glob("*/*") if p.suffix in (".json", ".npz", ".tflite")]
    assert any(p.suffix == ".tflite" for p in shipped)
    for path in shipped:
        assert f"charbot/checkpoints/{path.parent.name}/{path.name}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "charbot = charbot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow(seconds=60)
def test_the_light_install_generates_without_tensorflow_and_says_what_training_needs(wheel, tmp_path):
    """The wheel without extras in a fresh venv: its dependencies come from the package index (or pip's cache)."""
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True)
    bin_dir = tmp_path / "venv" / "bin"
    installed = subprocess.run([bin_dir / "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-2000:]
    run = lambda *args: subprocess.run([bin_dir / "charbot", *args], capture_output=True, text=True,  # noqa: E731
                                       timeout=120, cwd=tmp_path)
    generated = run("generate", "ROMEO:", "--len", "40", "--seed", "1")
    assert generated.returncode == 0 and len(generated.stdout) >= 40, generated.stderr[-2000:]
    trained = run("train", "--corpus", "shakespeare", "--max-steps", "1")
    assert trained.returncode == 1 and trained.stderr.count("\n") == 1, trained.stderr[-2000:]
    assert "needs TensorFlow" in trained.stderr and "charbot[train]" in trained.stderr
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/tensorflow"))
