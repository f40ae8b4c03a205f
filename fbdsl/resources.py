"""Where the grammar and the standard library live, installed or in a source checkout."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _package_dir(package: str, checkout_dir: str) -> Traversable:
    """The installed package data, or the checkout's top-level folder when run from source."""
    local = _CHECKOUT / checkout_dir
    if local.is_dir() and (_CHECKOUT / "pyproject.toml").is_file():
        return local
    return resources.files(package)


def grammar_text() -> str:
    return _package_dir("fbdsl._grammar", "grammar").joinpath("fbdsl.lark").read_text("utf-8")


def stdlib_module(name: str) -> tuple[str, str] | None:
    """(display path, text) of `std/NAME`, or None if the standard library has no such module."""
    root = _package_dir("fbdsl._stdlib", "stdlib")
    node = root
    for part in f"{name}.fbdsl".split("/"):
        node = node.joinpath(part)
    if not node.is_file():
        return None
    return f"<stdlib>/{name}.fbdsl", node.read_text("utf-8")


def stdlib_module_names() -> list[str]:
    """Every module of the standard library, as `std/...` names (for did-you-mean)."""
    root = _package_dir("fbdsl._stdlib", "stdlib")
    names: list[str] = []
    stack: list[tuple[Traversable, str]] = [(root, "")]
    while stack:
        node, prefix = stack.pop()
        for child in node.iterdir():
            if child.is_dir():
                stack.append((child, f"{prefix}{child.name}/"))
            elif child.name.endswith(".fbdsl"):
                names.append(prefix + child.name[: -len(".fbdsl")])
    return sorted(names)
