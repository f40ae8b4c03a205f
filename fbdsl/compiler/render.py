"""Typed expressions back to fbdsl source text (for the rule graph, reasons and lint)."""

from __future__ import annotations

from fbdsl.compiler import program as p
from fbdsl.compiler.types import DURATION

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))  # 30d reads better than 4w2d
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6}


def duration_text(seconds: float) -> str:
    """`2592000` -> `30d`, `129600` -> `1d12h`."""
    if seconds == float("inf"):
        return "never"
    remaining = int(seconds)
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    if remaining == 0:
        return "0s"
    parts = []
    for unit, size in _UNITS:
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return sign + "".join(parts)


def constant_text(value: object, is_duration: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(constant_text(v) for v in value) + "]"
    if is_duration and isinstance(value, int | float):
        return duration_text(value)
    return repr(value)


def render(expr: p.TExpr, trigger: str = "trigger") -> str:
    """Source text of a typed expression. Trigger fields are bare, except inside a `where`
    about another event, where they read `TRIGGER.field`."""
    return _Renderer(trigger).render(expr, 0)


def render_inner(expr: p.TExpr, trigger: str) -> str:
    """Source text of a `where` about another event (`unless E where ...`): its own fields
    bare, the trigger's as `TRIGGER.field`."""
    return _Renderer(trigger, inner=True).render(expr, 0)


class _Renderer:
    def __init__(self, trigger: str, inner: bool = False) -> None:
        self.trigger = trigger
        self.inner = inner

    def render(self, expr: p.TExpr, outer: int) -> str:
        text, own = self.node(expr)
        return f"({text})" if own < outer else text

    def inner_where(self, where: p.TExpr | None) -> str:
        if where is None:
            return ""
        return " where " + _Renderer(self.trigger, inner=True).render(where, 0)

    def node(self, expr: p.TExpr) -> tuple[str, int]:
        _render = self.render
        atom = 9
        match expr:
            case p.TConst():
                return constant_text(expr.value, expr.type == DURATION), atom
            case p.TField():
                if self.inner and expr.scope == "trigger":
                    return f"{self.trigger}.{expr.name}", atom
                return expr.name, atom
            case p.TTrait():
                return f"customer.{expr.name}", atom
            case p.TLastContact():
                return (
                    "last_contact" if expr.channel is None else f"last_contact({expr.channel})"
                ), atom
            case p.TLastSent():
                return f"last_sent({constant_text(expr.target)})", atom
            case p.TContacts():
                return f"contacts({duration_text(expr.window)})", atom
            case p.TCount():
                where = self.inner_where(expr.where)
                return f"count({expr.event}{where} within {duration_text(expr.window)})", atom
            case p.TSince():
                return f"since({expr.event})", atom
            case p.TFirstTime():
                return "first_time", atom
            case p.TNever():
                return "never", atom
            case p.TAbsence():
                where = self.inner_where(expr.where)
                return f"no {expr.event}{where} within {duration_text(expr.window)}", atom
            case p.TBool():
                level = _PRECEDENCE[expr.op]
                joined = f" {expr.op} ".join(_render(o, level + 1) for o in expr.operands)
                return joined, level
            case p.TNot():
                return f"not {_render(expr.operand, _PRECEDENCE['not'])}", _PRECEDENCE["not"]
            case p.TCompare():
                level = _PRECEDENCE["compare"]
                left, right = _render(expr.left, level + 1), _render(expr.right, level + 1)
                return f"{left} {expr.op} {right}", level
            case p.TIn():
                level = _PRECEDENCE["compare"]
                keyword = "not in" if expr.negated else "in"
                return (
                    f"{_render(expr.value, level + 1)} {keyword} {constant_text(expr.options)}",
                    level,
                )
            case p.TContains():
                level = _PRECEDENCE["compare"]
                container, item = _render(expr.container, level + 1), _render(expr.item, level + 1)
                return f"{container} contains {item}", level
            case p.TArith():
                level = _PRECEDENCE[expr.op]
                right_level = level + 1 if expr.op in "-/" else level
                return (
                    f"{_render(expr.left, level)} {expr.op} {_render(expr.right, right_level)}",
                    level,
                )
            case p.TNeg():
                return f"-{_render(expr.operand, atom)}", 8
        raise TypeError(f"cannot render {type(expr).__name__}")  # pragma: no cover
