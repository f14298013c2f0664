"""The wheel carries the corpus manifest and the shipped model, so an installed charbot finds them."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_the_package_data(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("charbot", "corpora", "checkpoints"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("charbot-*.whl")
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
