"""The canonical formatter: parse a file, print its AST in the one canonical layout, and put
every comment back where it was.

Layout (docs/formatting.md has the full rules): a block or a rule written on one line stays on
one line when it fits in 100 columns; otherwise a block has one member a line, indented by
four spaces, and a rule is broken at its joints: `rule NAME` and its options, `when ...
where TERM` and one `and TERM` a line, `then ACTION` and one `and ACTION` a line (each of the
three groups kept on one line when it was written so and fits). Printing goes through
`fmt_expr`.

Comments are not part of the AST's equality, but the parser keeps them with their spans, as
gofmt and ruff do. Each printed line remembers the source offset it starts at; a comment
alone on its line leads the first printed line that starts after it, a comment after code
trails the last printed line that starts before it. Blank lines the author left between
declarations, or between the members of a block, are kept (several become one); multi-line
declarations are always separated by one.
"""

from __future__ import annotations

import bisect

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import fmt_expr as x
from fbdsl.compiler.diagnostics import Diagnostic
from fbdsl.compiler.parser import parse_source

WIDTH = 100
INDENT = "    "


@attrs.frozen
class FormatResult:
    """The formatted text, or None (and the diagnostics) when the file does not parse."""

    text: str | None
    diagnostics: tuple[Diagnostic, ...]


def format_source(text: str, path: str = "<string>.fbdsl") -> FormatResult:
    """Format one file's text. A file with syntax errors is left alone."""
    parsed = parse_source(text, path)
    if parsed.source is None or parsed.diagnostics:
        return FormatResult(None, parsed.diagnostics)
    return FormatResult(format_file(parsed.source), ())


@attrs.define
class _Line:
    depth: int  # indentation, in levels of four spaces
    text: str
    start: int  # source offset of what the line prints (to place comments)
    first: int  # source lines it covers
    last: int
    item: int  # index of the top-level declaration it belongs to
    in_block: bool = False  # a member of a `{ }` block, or its closing brace
    closes: bool = False
    comment_depth: int | None = None  # where comments before this line are indented
    leading: list[ast.Comment] = attrs.field(factory=list)
    trailing: list[ast.Comment] = attrs.field(factory=list)


def format_file(source: ast.SourceFile) -> str:
    """The canonical text of a parsed file (comments included)."""
    lines: list[_Line] = []
    for index, item in enumerate(source.items):
        lines.extend(_Printer(source, index).item(item))
    tail = _attach(source, lines)
    return _emit(lines, tail)


class _Printer:
    def __init__(self, source: ast.SourceFile, index: int) -> None:
        self.source = source
        self.index = index
        self.comment_offsets = [c.span.start for c in source.comments]

    def line(
        self, depth: int, text: str, node: object, *, start: int | None = None, **kw: object
    ) -> _Line:
        span: ast.Span = node.span  # type: ignore[attr-defined]
        return _Line(
            depth,
            text,
            span.start if start is None else start,
            span.line,
            span.end_line,
            self.index,
            **kw,  # type: ignore[arg-type]
        )

    def has_comment_inside(self, span: ast.Span) -> bool:
        first_after = bisect.bisect_right(self.comment_offsets, span.start)
        return first_after < bisect.bisect_left(self.comment_offsets, span.end)

    def item(self, item: ast.Decl) -> list[_Line]:
        if isinstance(item, ast.Import):
            return [self.line(0, f"import {item.path.text}", item)]
        if isinstance(item, ast.ChannelDecl | ast.TeamDecl):
            word = "channel" if isinstance(item, ast.ChannelDecl) else "team"
            return [self.line(0, f"{word} {', '.join(n.value for n in item.names)}", item)]
        if isinstance(item, ast.EventDecl):
            head = f"event {item.name.value}"
            if item.external_name is not None:
                head += f" from {item.external_name.text}"
            return self.block(0, head, item, [self.field(f) for f in item.fields])
        if isinstance(item, ast.CustomerDecl):
            return self.block(0, "customer", item, [self.field(f) for f in item.fields])
        if isinstance(item, ast.ContactDecl):
            return self.block(0, f"{item.kind} {item.name.value}", item, self.contact(item))
        if isinstance(item, ast.PolicyDecl):
            return self.policy(0, item)
        if isinstance(item, ast.ModeDecl):
            members = [self.policy(1, item.policy)] if item.policy is not None else []
            return self.block(0, f"mode {item.name.value}", item, members)
        return self.rule(item)

    def block(self, depth: int, head: str, node: object, members: list[list[_Line]]) -> list[_Line]:
        span: ast.Span = node.span  # type: ignore[attr-defined]
        if not members:
            return [self.line(depth, head + " {}", node)]
        single = all(len(member) == 1 for member in members)
        if single and _one_line(span) and not self.has_comment_inside(span):
            text = head + " { " + "  ".join(m[0].text for m in members) + " }"
            if len(INDENT * depth + text) <= WIDTH:
                return [self.line(depth, text, node)]
        out = [self.line(depth, head + " {", node)]
        for member in members:
            for line in member:
                line.in_block = True
            out.extend(member)
        close = self.line(
            depth,
            "}",
            node,
            start=span.end - 1,
            in_block=True,
            closes=True,
            comment_depth=depth + 1,
        )
        close.first = span.end_line
        out.append(close)
        return out

    def field(self, field: ast.FieldDecl) -> list[_Line]:
        text = f"{field.name.value}: {x.type_text(field.type)}"
        if field.default is not None:
            text += f" = {x.default_text(field.default)}"
        return [self.line(1, text, field)]

    def contact(self, decl: ast.ContactDecl) -> list[list[_Line]]:
        members = []
        if decl.channels is not None:
            names = ", ".join(n.value for n in decl.channels)
            first = decl.channels[0] if decl.channels else decl.name
            members.append([self.line(1, f"channels: {names}", first)])
        if decl.cooldown is not None:
            members.append([self.line(1, f"cooldown: {decl.cooldown.text}", decl.cooldown)])
        return members

    def policy(self, depth: int, decl: ast.PolicyDecl) -> list[_Line]:
        members = [[self.line(depth + 1, _statement(s), s)] for s in decl.statements]
        return self.block(depth, "policy", decl, members)

    # -- rules -----------------------------------------------------------------------------

    def rule(self, rule: ast.RuleDecl) -> list[_Line]:
        """A rule on one line if it was written so and fits; else each of its three groups
        (name and options, trigger and condition, actions) on one line if it was written so
        and fits, else one option, condition term or action a line."""
        options = [x.option_text(o) for o in rule.options]
        trigger = rule.trigger
        terms = _conjuncts(trigger.condition)
        head = "when " + " or ".join(e.value for e in trigger.events)
        first_term = ""
        if terms:
            between = self.source.text[trigger.events[-1].span.end : terms[0].span.start]
            word = "where" if "where" in between.split() else "and"  # as the author wrote it
            first_term = f"{word} {x.expr_text(terms[0], x.NOT)}"
            head += " " + first_term
        more_terms = [f"and {x.expr_text(t, x.NOT)}" for t in terms[1:]]
        actions = [x.action_text(a) for a in rule.actions]
        name = f"rule {x.rule_name_text(rule)}" if rule.name is not None else None
        whole = " ".join(
            [*([name, *options] if name else []), head, *more_terms, "then " + actions[0]]
            + [f"and {a}" for a in actions[1:]]
        )
        if _one_line(rule.span) and len(whole) <= WIDTH:
            return [self.line(0, whole, rule)]
        out: list[_Line] = []
        if name is not None:
            last = rule.options[-1].span if rule.options else rule.name.span  # type: ignore[union-attr]
            together = " ".join([name, *options])
            if rule.span.line == last.end_line and len(together) <= WIDTH:
                out.append(self.line(0, together, rule))
            else:
                out.append(self.line(0, name, rule))
                out.extend(self.line(1, t, o) for t, o in zip(options, rule.options, strict=True))
        condition = " ".join([head, *more_terms])
        if _one_line(trigger.span) and len(condition) <= WIDTH:
            out.append(self.line(0, condition, trigger))
        elif terms and len(head) > WIDTH:  # the first term goes below the trigger too
            out.append(self.line(0, head[: -len(first_term) - 1], trigger))
            out.append(self.line(1, first_term, terms[0]))
            out.extend(self.line(1, t, n) for t, n in zip(more_terms, terms[1:], strict=True))
        else:
            out.append(self.line(0, head, trigger))
            out.extend(self.line(1, t, n) for t, n in zip(more_terms, terms[1:], strict=True))
        first, final = rule.actions[0].span, rule.actions[-1].span
        joined = "then " + " and ".join(actions)
        if first.line == final.end_line and len(joined) <= WIDTH:
            out.append(self.line(0, joined, rule.actions[0]))
            return out
        for index, action in enumerate(rule.actions):
            depth, word = (0, "then") if index == 0 else (1, "and")
            out.extend(self.action(depth, word, action))
        return out

    def action(self, depth: int, word: str, action: ast.Action) -> list[_Line]:
        """An action line; too long, its `unless` or `with` clause continues below."""
        text = f"{word} {x.action_text(action)}"
        if len(INDENT * depth + text) <= WIDTH:
            return [self.line(depth, text, action)]
        if isinstance(action, ast.SendAction) and action.unless is not None:
            tail_node: object = action.unless
            main = attrs.evolve(action, unless=None)
        elif isinstance(action, ast.TaskAction) and action.notes:
            tail_node = action.notes[0]
            main = attrs.evolve(action, notes=())
        else:
            return [self.line(depth, text, action)]
        main_text = f"{word} {x.action_text(main)}"
        tail = x.action_text(action)[len(x.action_text(main)) + 1 :]
        return [self.line(depth, main_text, action), self.line(depth + 1, tail, tail_node)]


def _one_line(span: ast.Span) -> bool:
    return span.line == span.end_line


def _conjuncts(condition: ast.Expr | None) -> list[ast.Expr]:
    if condition is None:
        return []
    if isinstance(condition, ast.BoolOp) and condition.op == "and":
        return list(condition.operands)
    return [condition]


def _statement(statement: ast.PolicyStmt) -> str:
    if isinstance(statement, ast.LimitStmt):
        noun = "contact" if statement.count == 1 else "contacts"
        text = f"limit {statement.count} {noun} per {statement.window.text}"
        return text + (f" via {statement.channel.value}" if statement.channel else "")
    if isinstance(statement, ast.QuietHoursStmt):
        return f"quiet hours {statement.start.text} to {statement.end.text}"
    return "one channel per contact"


# ---- comments ------------------------------------------------------------------------------


def _attach(source: ast.SourceFile, lines: list[_Line]) -> list[ast.Comment]:
    """Give each comment to a printed line; return the comments after the last one."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i].start, i))
    starts = [lines[i].start for i in order]
    tail: list[ast.Comment] = []
    text = source.text
    for comment in source.comments:
        offset = comment.span.start
        line_start = text.rfind("\n", 0, offset) + 1
        alone = not text[line_start:offset].strip()
        if alone:
            at = bisect.bisect_left(starts, offset)
            if at == len(order):
                tail.append(comment)
            else:
                lines[order[at]].leading.append(comment)
        else:
            at = bisect.bisect_right(starts, offset) - 1
            lines[order[max(at, 0)]].trailing.append(comment)
    for line in lines:  # one trailing comment a line: the others go above it
        if len(line.trailing) > 1:
            line.leading.extend(line.trailing[:-1])
            line.trailing = line.trailing[-1:]
    return tail


# ---- output --------------------------------------------------------------------------------


@attrs.define
class _Out:
    text: str
    comment: str | None = None
    blank_before: bool = False


def _emit(lines: list[_Line], tail: list[ast.Comment]) -> str:
    out: list[_Out] = []
    item_size: dict[int, int] = {}
    for line in lines:
        item_size[line.item] = item_size.get(line.item, 0) + 1
    previous_last = 0  # the last source line of what was printed before
    previous: _Line | None = None
    last_text = ""
    for line in lines:
        new_item = previous is None or previous.item != line.item
        depth = line.comment_depth if line.comment_depth is not None else line.depth
        entries: list[tuple[int, int, str, str | None, bool]] = [
            (c.span.line, c.span.end_line, INDENT * depth + _comment(c), None, True)
            for c in line.leading
        ]
        trailing = _comment(line.trailing[0]) if line.trailing else None
        entries.append((line.first, line.last, INDENT * line.depth + line.text, trailing, False))
        for number, (first, last, text, comment, is_comment) in enumerate(entries):
            gap = first - previous_last >= 2
            closing = line.closes and not is_comment
            if number == 0 and new_item and previous is not None:
                forced = item_size[line.item] > 1 or item_size[previous.item] > 1
                blank = gap or forced
            elif new_item:  # the first declaration's comments, or a comment block and its item
                blank = gap
            else:  # inside a declaration: blank lines survive only between block members
                blank = gap and line.in_block and not closing and not last_text.endswith("{")
            out.append(_Out(text, comment, blank and bool(out)))
            previous_last = max(last, first)
            last_text = text
        previous_last = max(previous_last, line.last)
        previous = line
    for comment in tail:
        gap = comment.span.line - previous_last >= 2
        out.append(_Out(_comment(comment), None, gap and bool(out)))
        previous_last = comment.span.line
    return _render(out)


def _comment(comment: ast.Comment) -> str:
    return comment.text.rstrip()


def _render(out: list[_Out]) -> str:
    """Join the lines; trailing comments of consecutive lines are aligned (as gofmt does)."""
    widths: list[int] = [0] * len(out)
    run: list[int] = []
    for index, entry in enumerate([*out, _Out("")]):
        if entry.comment is not None and (not run or not entry.blank_before):
            run.append(index)
            continue
        if run:
            width = max(len(out[i].text) for i in run)
            for i in run:
                widths[i] = width
        run = [index] if entry.comment is not None else []
    text: list[str] = []
    for index, entry in enumerate(out):
        if entry.blank_before:
            text.append("")
        if entry.comment is None:
            text.append(entry.text)
        else:
            text.append(entry.text.ljust(widths[index]) + "  " + entry.comment)
    return "\n".join(text) + "\n" if text else ""
