"""A plain, non-editable `pip install .` into a fresh venv carries the grammar and stdlib."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_fresh_venv_install_carries_grammar_and_stdlib(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    # System site-packages supply lark, attrs and click; pip builds fbdsl in isolation, as a
    # user's `pip install .` does, and installs it non-editable into the venv, where it
    # shadows any other copy.
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    rules = tmp_path / "rules.fbdsl"
    rules.write_text(
        'import "std/fbdsl"\nchannel email\nsurvey s { channels: email }\n'
        'when customer_tagged where tag == "vip" then send survey "s"\n'
    )
    located = subprocess.run(
        [str(python), "-c", "import fbdsl, sys; print(fbdsl.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert str(env_dir) in located.stdout, "the venv must use its own installed copy"
    result = subprocess.run(
        [str(env_dir / "bin" / "fbdsl"), "check", str(rules)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 1 rules in 2 files" in result.stderr
    assert sys.version_info >= (3, 11)
