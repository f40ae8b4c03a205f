"""Lint configuration: `[tool.fbdsl.lint]` in pyproject.toml, or `[lint]` in fbdsl.toml.

The file is looked for from the working directory upwards; in each folder `fbdsl.toml` wins
over `pyproject.toml`, and a pyproject.toml without a `[tool.fbdsl.lint]` table is passed
over. `--config FILE` names it directly. The command line's `--select` and `--ignore`
replace the file's lists. Unknown keys, codes and severities are errors, so that a typo
never silently turns a check off.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import attrs

from fbdsl.compiler.diagnostics import ERROR, NOTE, WARNING

DEFAULT_MAX_DELAY = 7 * 86400
DEFAULT_INTERRUPTING_CHANNELS = ("sms", "call", "push")
FAIL_ON_CHOICES = (ERROR, WARNING, NOTE)
_KEYS = {"select", "ignore", "severity", "fail-on", "max-delay", "interrupting-channels"}


class ConfigError(Exception):
    """A configuration that cannot be used: the CLI reports it and exits 2."""


@attrs.frozen
class LintConfig:
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    severity: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    fail_on: str = WARNING
    max_delay: int = DEFAULT_MAX_DELAY  # FB107: seconds
    interrupting_channels: tuple[str, ...] = DEFAULT_INTERRUPTING_CHANNELS  # FB109
    source: str | None = None  # the file it came from

    def enabled(self, code: str, category: str) -> bool:
        """Selected and not ignored; `ignore` wins over `select`."""
        return _matches(code, category, self.select) and not _matches(code, category, self.ignore)

    def severity_of(self, code: str, default: str) -> str:
        return self.severity.get(code, default)


def _matches(code: str, category: str, patterns: Iterable[str]) -> bool:
    return any(
        pattern == "ALL" or code.startswith(pattern) or pattern == category for pattern in patterns
    )


def find_config_file(start: Path) -> Path | None:
    """The nearest fbdsl.toml, or pyproject.toml with [tool.fbdsl.lint], from `start` up."""
    for folder in [start.resolve(), *start.resolve().parents]:
        own = folder / "fbdsl.toml"
        if own.is_file():
            return own
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and _lint_table(pyproject) is not None:
            return pyproject
    return None


def _lint_table(path: Path) -> dict[str, object] | None:
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("fbdsl", {}).get("lint")
    else:
        table = document.get("lint", {})
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: the lint configuration must be a table")
    return table


def load_config(
    explicit: Path | None,
    cwd: Path,
    known_codes: Mapping[str, str],
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
) -> LintConfig:
    """The configuration in force: the file's (if any), then the command line's lists.

    `known_codes` maps every lint code to its category (to validate code patterns).
    """
    path = explicit if explicit is not None else find_config_file(cwd)
    table: dict[str, object] = {}
    if path is not None:
        table = _lint_table(path) or {}
    where = str(path) if path is not None else "the command line"
    unknown = set(table) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown lint option {', '.join(sorted(unknown))} "
            f"(options: {', '.join(sorted(_KEYS))})"
        )
    file_select = _patterns(table.get("select", ["ALL"]), "select", where, known_codes)
    file_ignore = _patterns(table.get("ignore", []), "ignore", where, known_codes)
    cli_where = "the command line"
    return LintConfig(
        select=_patterns(select, "--select", cli_where, known_codes) if select else file_select,
        ignore=_patterns(ignore, "--ignore", cli_where, known_codes) if ignore else file_ignore,
        severity=_severities(table.get("severity", {}), where, known_codes),
        fail_on=_choice(table.get("fail-on", WARNING), "fail-on", where),
        max_delay=_duration(table.get("max-delay"), where),
        interrupting_channels=_names(table.get("interrupting-channels"), where),
        source=str(path) if path is not None else None,
    )


def _patterns(
    value: object, key: str, where: str, known_codes: Mapping[str, str]
) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: '{key}' must be a list of codes")
    patterns: list[str] = []
    categories = set(known_codes.values())
    for raw in value:
        for pattern in (part.strip() for part in raw.split(",")):
            if not pattern:
                continue
            if (
                pattern != "ALL"
                and pattern not in categories
                and not any(code.startswith(pattern) for code in known_codes)
            ):
                raise ConfigError(
                    f"{where}: '{key}' names '{pattern}', which matches no lint code "
                    "(use a code such as FB104, a prefix such as FB1, a category or ALL)"
                )
            patterns.append(pattern)
    return tuple(patterns)


def _severities(value: object, where: str, known_codes: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: 'severity' must be a table such as {{ FB110 = \"note\" }}")
    out: dict[str, str] = {}
    for code, severity in value.items():
        if code not in known_codes:
            raise ConfigError(f"{where}: 'severity' names unknown lint code '{code}'")
        out[code] = _choice(severity, f"severity.{code}", where)
    return out


def _choice(value: object, key: str, where: str) -> str:
    if value not in FAIL_ON_CHOICES:
        raise ConfigError(f"{where}: '{key}' must be one of {', '.join(FAIL_ON_CHOICES)}")
    assert isinstance(value, str)
    return value


def _duration(value: object, where: str) -> int:
    if value is None:
        return DEFAULT_MAX_DELAY
    from fbdsl.compiler.parser import DURATION_UNITS, parse_duration

    if not isinstance(value, str) or not value or not _is_duration(value, DURATION_UNITS):
        raise ConfigError(f'{where}: \'max-delay\' must be a duration such as "7d" or "36h"')
    return parse_duration(value)


def _is_duration(text: str, units: Mapping[str, int]) -> bool:
    import re

    pattern = rf"(?:[0-9]+[{''.join(units)}])+"
    return re.fullmatch(pattern, text) is not None


def _names(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_INTERRUPTING_CHANNELS
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: 'interrupting-channels' must be a list of channel names")
    return tuple(value)
