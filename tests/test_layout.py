"""The layout's rules: the import-linter contracts in pyproject.toml, module size, and the wheel's package list."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "charbot"


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " 0 broken" in result.stdout


def test_a_broken_contract_is_caught(tmp_path):
    """The check can fail: a contract that the code breaks (the chat imports generation) is reported."""
    config = tmp_path / "contracts.ini"
    config.write_text("[importlinter]\nroot_package = charbot\n\n[importlinter:contract:probe]\nname = probe\n"
                      "type = forbidden\nsource_modules = charbot.chat\nforbidden_modules = charbot.generate\n")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache", "--config", str(config)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0 and "1 broken" in result.stdout


def test_no_module_is_longer_than_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert not long


def test_the_wheel_lists_every_subpackage():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, packages - listed
