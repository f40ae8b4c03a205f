"""The formatter's printer for expressions, types, literals and actions (AST -> text).

Parentheses are not kept in the AST, so the printer puts them back by precedence: exactly
where the grammar needs them, plus two places where they make the reading unambiguous for
people: an `and` inside an `or` (`a or (b and c)`), and the operand of `not` when it is not a
single atom (`not (x == 1)`). Literals are printed as written (`1d12h` stays `1d12h`).
"""

from __future__ import annotations

from fbdsl.compiler import ast

# Binding strength, loosest first (the grammar's precedence levels).
OR, AND, NOT, COMPARE, SUM, PRODUCT, UNARY, ATOM = range(1, 9)


def level(expr: ast.Expr) -> int:
    if isinstance(expr, ast.BoolOp):
        return OR if expr.op == "or" else AND
    if isinstance(expr, ast.Not):
        return NOT
    if isinstance(expr, ast.Compare | ast.InList | ast.Contains):
        return COMPARE
    if isinstance(expr, ast.Arithmetic):
        return SUM if expr.op in "+-" else PRODUCT
    if isinstance(expr, ast.Negate):
        return UNARY
    if isinstance(expr, ast.Literal) and expr.text.startswith("-"):
        return UNARY
    return ATOM


def expr_text(expr: ast.Expr, needed: int = OR) -> str:
    """`expr` as text, parenthesised if it binds more loosely than `needed`."""
    text = _render(expr)
    return f"({text})" if level(expr) < needed else text


def _render(expr: ast.Expr) -> str:
    if isinstance(expr, ast.BoolOp):
        # `and` and `or` operands are `not`-level; a nested and/or is always parenthesised.
        return f" {expr.op} ".join(expr_text(o, NOT) for o in expr.operands)
    if isinstance(expr, ast.Not):
        if isinstance(expr.operand, ast.Not):
            return "not " + _render(expr.operand)
        return "not " + expr_text(expr.operand, ATOM)
    if isinstance(expr, ast.Compare):
        return f"{expr_text(expr.left, SUM)} {expr.op} {expr_text(expr.right, SUM)}"
    if isinstance(expr, ast.InList):
        word = "not in" if expr.negated else "in"
        return f"{expr_text(expr.value, SUM)} {word} {list_text(expr.options)}"
    if isinstance(expr, ast.Contains):
        return f"{expr_text(expr.container, SUM)} contains {expr_text(expr.item, SUM)}"
    if isinstance(expr, ast.Arithmetic):
        own = level(expr)
        return f"{expr_text(expr.left, own)} {expr.op} {expr_text(expr.right, own + 1)}"
    if isinstance(expr, ast.Negate):
        return "-" + expr_text(expr.operand, UNARY)
    return _atom(expr)


def _atom(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Literal):
        return expr.text
    if isinstance(expr, ast.ListLiteral):
        return list_text(expr)
    if isinstance(expr, ast.NameRef):
        return expr.name.value
    if isinstance(expr, ast.AttributeRef):
        return f"{expr.owner.value}.{expr.field.value}"
    if isinstance(expr, ast.TraitRef):
        return f"customer.{expr.trait.value}"
    if isinstance(expr, ast.LastContact):
        return "last_contact" if expr.channel is None else f"last_contact({expr.channel.value})"
    if isinstance(expr, ast.LastSent):
        return f"last_sent({expr.target.text})"
    if isinstance(expr, ast.ContactsIn):
        return f"contacts({expr.window.text})"
    if isinstance(expr, ast.CountOf):
        return f"count({_about(expr.event, expr.where)} within {expr.window.text})"
    if isinstance(expr, ast.SinceLast):
        return f"since({expr.event.value})"
    if isinstance(expr, ast.FirstTime):
        return "first_time"
    if isinstance(expr, ast.Never):
        return "never"
    if isinstance(expr, ast.Absence):
        return f"no {_about(expr.event, expr.where)} within {expr.window.text}"
    raise TypeError(f"cannot format {type(expr).__name__}")  # pragma: no cover


def _about(event: ast.Name, where: ast.Expr | None) -> str:
    return event.value if where is None else f"{event.value} where {expr_text(where)}"


def list_text(items: ast.ListLiteral) -> str:
    return "[" + ", ".join(item.text for item in items.items) + "]"


def string_text(value: str) -> str:
    """A string value as a literal (the escapes `\\"` and `\\\\`)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def type_text(type_expr: ast.TypeExpr) -> str:
    if isinstance(type_expr, ast.ListType):
        return f"list<{type_text(type_expr.element)}>"
    if isinstance(type_expr, ast.EnumType):
        return " | ".join(string_text(v) for v in type_expr.values)
    return type_expr.name


def default_text(value: ast.Literal | ast.ListLiteral) -> str:
    return list_text(value) if isinstance(value, ast.ListLiteral) else value.text


def action_text(action: ast.Action) -> str:
    if isinstance(action, ast.SendAction):
        text = f"send {action.kind} {action.target.text}"
        if action.via:
            text += " via " + " or ".join(n.value for n in action.via)
        if action.after is not None:
            text += f" after {action.after.text}"
        if action.unless is not None:
            text += f" unless {action.unless.event.value}"
            if action.unless.where is not None:
                text += f" where {expr_text(action.unless.where, COMPARE)}"
        return text
    if isinstance(action, ast.TaskAction):
        text = f"create task {action.task.text} for {action.team.value}"
        if action.due is not None:
            text += f" due {action.due.text}"
        if action.notes:
            notes = ", ".join(f"{n.key.value} = {expr_text(n.value, SUM)}" for n in action.notes)
            text += f" with {notes}"
        return text
    return f"{'untag' if action.remove else 'tag'} {action.tag.text}"


def option_text(option: ast.RuleOption) -> str:
    value = option.value
    written = value.value if isinstance(value, ast.Name) else value.text
    return f"in mode {written}" if option.keyword == "mode" else f"{option.keyword} {written}"


def rule_name_text(rule: ast.RuleDecl) -> str:
    assert rule.name is not None
    return string_text(rule.name.value) if rule.name_is_string else rule.name.value
