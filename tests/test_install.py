"""A plain, non-editable `pip install .` into a fresh venv carries the grammar and stdlib.

The fresh venv gets fbdsl itself from `pip install --no-deps .` (built in isolation, as a
user's install is) and its dependencies from wherever the *running* interpreter has them
(a venv, the system, the user site), through a .pth file written after the install. So the
test needs no network for the dependencies and works whether pytest runs from a venv or a
plain interpreter; the venv's own site-packages comes first, so its fbdsl copy is the one
imported even where the running interpreter has another.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dependency_dirs() -> list[str]:
    """The folders the running interpreter imports fbdsl's dependencies from."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    folders = set()
    for requirement in project["dependencies"]:
        match = re.match(r"[A-Za-z0-9_.-]+", requirement)
        assert match is not None, requirement
        distribution = importlib.metadata.distribution(match.group(0))
        folders.add(str(Path(str(distribution.locate_file(""))).resolve()))
    return sorted(folders)


def venv_site_packages(env_dir: Path) -> Path:
    scheme = "nt_venv" if sys.platform == "win32" else "venv"
    paths = sysconfig.get_paths(scheme, vars={"base": str(env_dir), "platbase": str(env_dir)})
    return Path(paths["purelib"])


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run in the fresh venv's world: no PYTHONPATH or PYTHONHOME of the running one."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.slow
def test_fresh_venv_install_carries_grammar_and_stdlib(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = bin_dir / "python"
    installed = run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(ROOT)], tmp_path
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # Without the dependencies, the installed fbdsl cannot even start: proof that the venv
    # does not see the running interpreter's packages by itself.
    bare = run([str(bin_dir / "fbdsl"), "--help"], tmp_path)
    assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr

    site_packages = venv_site_packages(env_dir)
    assert site_packages.is_dir()
    (site_packages / "zz_running_interpreter_deps.pth").write_text(
        "\n".join(dependency_dirs()) + "\n", "utf-8"
    )
    located = run(
        [str(python), "-c", "import fbdsl, lark; print(fbdsl.__file__); print(lark.__file__)"],
        tmp_path,
    )
    assert located.returncode == 0, located.stderr
    fbdsl_file, lark_file = located.stdout.splitlines()
    assert Path(fbdsl_file).is_relative_to(site_packages), "the venv must use its own copy"
    assert not Path(lark_file).is_relative_to(env_dir)
    shipped = sorted(p.name for p in (Path(fbdsl_file).parent / "_stdlib" / "std").iterdir())
    assert shipped == [
        "channels.fbdsl",
        "ecommerce.fbdsl",
        "fbdsl.fbdsl",
        "subscription.fbdsl",
        "support.fbdsl",
    ]
    assert (Path(fbdsl_file).parent / "_grammar" / "fbdsl.lark").is_file()

    rules = tmp_path / "rules.fbdsl"
    rules.write_text(
        'import "std/ecommerce"\nimport "std/channels"\nimport "std/fbdsl"\n'
        "survey cart_exit { channels: email, popup }\n"
        'when cart_abandoned and last_contact > 30d then send survey "cart_exit"\n'
        'when customer_tagged where tag == "vip" then send survey "cart_exit"\n',
        "utf-8",
    )
    result = run([str(bin_dir / "fbdsl"), "check", str(rules)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok: 2 rules in 4 files" in result.stderr

    # The installed grammar and stdlib also report errors as the checkout does.
    rules.write_text('import "std/support"\nwhen nps_answered where scor <= 6 then tag "x"\n')
    result = run([str(bin_dir / "fbdsl"), "check", str(rules)], tmp_path)
    assert result.returncode == 1
    assert "2:25: error[FB021]: nps_answered has no field 'scor'" in result.stdout
    assert "did you mean 'score'?" in result.stdout
