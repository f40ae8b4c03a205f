"""Name resolution and type checking of a rule set: parsed files -> `CheckedProgram`.

Collects every declaration across files (order-independent), resolves and validates them,
then checks each rule (options, trigger, condition via `check_expr`, actions) and the rule
set as a whole (duplicate names, cycles through fbdsl's own events). All errors are
reported, not only the first; the program is returned only when there are none.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import PurePath

import attrs

from fbdsl.compiler import ast
from fbdsl.compiler import program as p
from fbdsl.compiler.allocation import collector_paused
from fbdsl.compiler.check_decls import DeclarationChecker, Declared
from fbdsl.compiler.check_expr import ExpressionChecker, Scope, Symbols
from fbdsl.compiler.cycles import find_cycles
from fbdsl.compiler.diagnostics import Diagnostic, did_you_mean, error

UNKNOWN_EVENT = "FB020"
UNKNOWN_SURVEY = "FB023"
UNKNOWN_MESSAGE = "FB024"
UNKNOWN_CHANNEL = "FB025"
UNKNOWN_TEAM = "FB026"
UNKNOWN_MODE = "FB027"
OUT_OF_RANGE = "FB040"
CHANNEL_NOT_ALLOWED = "FB041"
BAD_VALUE = "FB043"
DUPLICATE_OPTION = "FB044"
DUPLICATE_RULE = "FB050"


@attrs.frozen
class CheckResult:
    program: p.CheckedProgram | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return self.program is not None


def check(files: Sequence[ast.SourceFile]) -> CheckResult:
    """Check a parsed rule set. `files` must be in rule-set order (sorted by path)."""
    with collector_paused():
        return _check(files)


def _check(files: Sequence[ast.SourceFile]) -> CheckResult:
    diagnostics: list[Diagnostic] = []
    declarations = DeclarationChecker(diagnostics.append)
    declared = declarations.run(files)
    symbols = Symbols(
        declared.events,
        declared.traits,
        declared.channels,
        declared.contacts,
        declared.unresolved,
    )
    rules = RuleChecker(symbols, declared, diagnostics.append).run(files)
    for cycle_error in find_cycles(rules):
        diagnostics.append(cycle_error)
    diagnostics.sort(key=Diagnostic.sort_key)
    if any(d.severity == "error" for d in diagnostics):
        return CheckResult(None, tuple(diagnostics))
    program = p.CheckedProgram(
        files=tuple(files),
        events=declared.events,
        external_names=declared.external_names,
        traits=declared.traits,
        channels=declared.channels,
        teams=declared.teams,
        contacts=declared.contacts,
        policy=declared.policy,
        modes=declared.modes,
        rules=tuple(rules),
        history=history_needs(rules),
    )
    return CheckResult(program, tuple(diagnostics))


class RuleChecker:
    """Checks every rule against the declarations."""

    def __init__(
        self, symbols: Symbols, declared: Declared, report: Callable[[Diagnostic], None]
    ) -> None:
        self.symbols = symbols
        self.declared = declared
        self.report = report
        self.expressions = ExpressionChecker(symbols, report)

    def _error(self, code: str, message: str, span: ast.Span, hint: str | None = None) -> None:
        self.report(error(code, message, span, hint))

    def run(self, files: Sequence[ast.SourceFile]) -> list[p.CheckedRule]:
        rules: list[p.CheckedRule] = []
        names: dict[str, ast.RuleDecl] = {}
        index = 0
        for source in files:
            for item in source.items:
                if not isinstance(item, ast.RuleDecl):
                    continue
                name = rule_display_name(item)
                if name in names:
                    first = names[name].span
                    if item.name is not None:
                        self._error(
                            DUPLICATE_RULE,
                            f"a rule named '{name}' already exists",
                            item.name.span,
                            f"the first is at {first.file}:{first.line}; rule names must be unique",
                        )
                    else:
                        self._error(
                            DUPLICATE_RULE,
                            f"this anonymous rule would be named '{name}' in decisions, like "
                            f"the one at {first.file}:{first.line}",
                            item.trigger.span,
                            "name it: rule my_name when ...",
                        )
                names.setdefault(name, item)
                checked = self.rule(item, name, index)
                index += 1
                if checked is not None:
                    rules.append(checked)
        return rules

    # -- one rule --------------------------------------------------------------------------

    def rule(self, decl: ast.RuleDecl, name: str, index: int) -> p.CheckedRule | None:
        ok = True
        seen: dict[str, ast.RuleOption] = {}
        for option in decl.options:
            if option.keyword in seen:
                self._error(
                    DUPLICATE_OPTION,
                    f"'{option_word(option)}' is given twice",
                    option.span,
                    "keep one of them",
                )
                ok = False
            seen.setdefault(option.keyword, option)
        priority = seen.get("priority")
        sample = self._percent(seen.get("sample"), low_open=True, default=1.0)
        holdout = self._percent(seen.get("holdout"), low_open=False, default=0.0)
        mode_ok, mode = self._mode(seen.get("mode"))
        ok = ok and sample is not None and holdout is not None and mode_ok

        triggers = tuple(t.value for t in decl.trigger.events)
        for position, event in enumerate(decl.trigger.events):
            if event.value in triggers[:position]:
                self._error(
                    DUPLICATE_OPTION,
                    f"'{event.value}' is named twice after 'when'",
                    event.span,
                    "keep one: the rule would run twice for each such event",
                )
                ok = False
        known = [t for t in decl.trigger.events if self._event_exists(t)]
        condition: p.TExpr | None = None
        if len(known) == len(triggers) and decl.trigger.condition is not None:
            scope = Scope(triggers, top_level_conjunct=True)
            condition = self.expressions.condition(decl.trigger.condition, scope)
            ok = ok and condition is not None
        ok = ok and len(known) == len(triggers)

        actions = [
            self.action(a, triggers if len(known) == len(triggers) else ()) for a in decl.actions
        ]
        if not ok or any(a is None for a in actions):
            return None
        assert sample is not None and holdout is not None
        return p.CheckedRule(
            name=name,
            index=index,
            decl=decl,
            priority=_priority(priority),
            sample=sample,
            holdout=holdout,
            mode=mode,
            triggers=triggers,
            condition=condition,
            actions=tuple(a for a in actions if a is not None),
        )

    def _event_exists(self, name: ast.Name) -> bool:
        if name.value in self.symbols.events:
            return True
        self._error(
            UNKNOWN_EVENT,
            f"unknown event '{name.value}'",
            name.span,
            did_you_mean(name.value, self.symbols.events)
            or "declare it with 'event NAME { ... }' or import a module that does",
        )
        return False

    def _percent(
        self, option: ast.RuleOption | None, *, low_open: bool, default: float
    ) -> float | None:
        if option is None:
            return default
        literal = option.value
        assert isinstance(literal, ast.Literal)
        value = float(literal.value)
        if low_open and not 0 < value <= 100:
            self._error(
                OUT_OF_RANGE,
                f"sample {literal.text} is out of range",
                literal.span,
                "a sample is more than 0% and at most 100%",
            )
            return None
        if not low_open and not 0 <= value < 100:
            self._error(
                OUT_OF_RANGE,
                f"holdout {literal.text} is out of range",
                literal.span,
                "a holdout is at least 0% and less than 100%",
            )
            return None
        return value / 100

    def _mode(self, option: ast.RuleOption | None) -> tuple[bool, str | None]:
        if option is None:
            return True, None
        name = option.value
        assert isinstance(name, ast.Name)
        if name.value not in self.declared.modes:
            self._error(
                UNKNOWN_MODE,
                f"unknown mode '{name.value}'",
                name.span,
                did_you_mean(name.value, self.declared.modes)
                or "declare it with 'mode NAME { ... }'",
            )
            return False, None
        return True, name.value

    # -- actions ---------------------------------------------------------------------------

    def action(self, action: ast.Action, triggers: tuple[str, ...]) -> p.CheckedAction | None:
        if isinstance(action, ast.SendAction):
            return self.send(action, triggers)
        if isinstance(action, ast.TaskAction):
            return self.task(action, triggers)
        if not str(action.tag.value).strip():
            self._error(BAD_VALUE, "a tag cannot be empty", action.tag.span)
            return None
        return p.CheckedTag(str(action.tag.value), action.remove, action.span)

    def send(self, action: ast.SendAction, triggers: tuple[str, ...]) -> p.CheckedSend | None:
        target = str(action.target.value)
        contact = self.symbols.contacts.get(target)
        ok = True
        if contact is None or contact.kind != action.kind:
            code = UNKNOWN_SURVEY if action.kind == "survey" else UNKNOWN_MESSAGE
            same_kind = [c.name for c in self.symbols.contacts.values() if c.kind == action.kind]
            message = f"unknown {action.kind} '{target}'"
            hint = did_you_mean(target, same_kind)
            if contact is not None:
                message = f"'{target}' is a {contact.kind}, not a {action.kind}"
                hint = f'write send {contact.kind} "{target}"'
            elif hint is None:
                hint = f"declare it with '{action.kind} {target} {{ channels: ... }}'"
            self._error(code, message, action.target.span, hint)
            return None
        for channel in action.via:
            if channel.value not in self.symbols.channels:
                self._error(
                    UNKNOWN_CHANNEL,
                    f"unknown channel '{channel.value}'",
                    channel.span,
                    self.symbols.channel_hint(channel.value),
                )
                ok = False
            elif contact.channels and channel.value not in contact.channels:
                self._error(
                    CHANNEL_NOT_ALLOWED,
                    f"{contact.kind} {target} does not allow channel '{channel.value}'",
                    channel.span,
                    f"its channels: {', '.join(contact.channels)}",
                )
                ok = False
        after_ok, after = self._positive(action.after, "'after'")
        unless: p.CheckedUnless | None = None
        if action.unless is not None and triggers:
            clause = action.unless
            if clause.event.value not in self.symbols.events:
                self._error(
                    UNKNOWN_EVENT,
                    f"unknown event '{clause.event.value}'",
                    clause.event.span,
                    did_you_mean(clause.event.value, self.symbols.events),
                )
                ok = False
            else:
                where = None
                if clause.where is not None:
                    scope = Scope(triggers, subject=clause.event.value)
                    where = self.expressions.condition(clause.where, scope)
                    ok = ok and where is not None
                unless = p.CheckedUnless(clause.event.value, where, clause.span)
        if not ok or not after_ok:
            return None
        channels = tuple(c.value for c in action.via) or contact.channels
        return p.CheckedSend(
            action.kind,
            target,
            channels,
            bool(action.via),
            after,
            unless,
            action.span,
        )

    def task(self, action: ast.TaskAction, triggers: tuple[str, ...]) -> p.CheckedTask | None:
        ok = True
        if action.team.value not in self.declared.teams:
            self._error(
                UNKNOWN_TEAM,
                f"unknown team '{action.team.value}'",
                action.team.span,
                did_you_mean(action.team.value, self.declared.teams)
                or "declare it with 'team NAME'",
            )
            ok = False
        due_ok, due = self._positive(action.due, "'due'")
        notes: list[tuple[str, p.TExpr]] = []
        keys: set[str] = set()
        for note in action.notes:
            if note.key.value in keys:
                self._error(
                    DUPLICATE_OPTION, f"note '{note.key.value}' is given twice", note.key.span
                )
                ok = False
            keys.add(note.key.value)
            if not triggers:
                continue
            value = self.expressions.expr(note.value, Scope(triggers))
            if value is None:
                ok = False
                continue
            notes.append((note.key.value, value))
        if not ok or not due_ok:
            return None
        return p.CheckedTask(
            str(action.task.value),
            action.team.value,
            due,
            tuple(notes),
            action.span,
        )

    def _positive(self, duration: ast.Duration | None, what: str) -> tuple[bool, int | None]:
        """(valid, seconds) of an optional duration that must be above zero."""
        if duration is None:
            return True, None
        if duration.seconds <= 0:
            self._error(BAD_VALUE, f"{what} must be longer than 0", duration.span)
            return False, None
        return True, duration.seconds


def _priority(option: ast.RuleOption | None) -> int:
    if option is None:
        return 0
    assert isinstance(option.value, ast.Literal) and isinstance(option.value.value, int)
    return option.value.value


def rule_display_name(rule: ast.RuleDecl) -> str:
    """A rule's name in decisions: its own, or `FILE_NAME:LINE` for an anonymous one-liner
    (the file's name without its folder, so decisions do not depend on where fbdsl runs)."""
    if rule.name is not None:
        return rule.name.value
    return f"{PurePath(rule.span.file).name}:{rule.span.line}"


def option_word(option: ast.RuleOption) -> str:
    return "in mode" if option.keyword == "mode" else option.keyword


def history_needs(rules: Sequence[p.CheckedRule]) -> p.HistoryNeeds:
    """How much event history each customer needs: the longest window per counted event,
    the events `since` reads, the triggers `first_time` is asked about."""
    windows: dict[str, int] = {}
    last_seen: set[str] = set()
    first_time: set[str] = set()
    for rule in rules:
        for node in _typed_nodes(rule):
            if isinstance(node, p.TCount):
                windows[node.event] = max(windows.get(node.event, 0), node.window)
            elif isinstance(node, p.TSince):
                last_seen.add(node.event)
            elif isinstance(node, p.TFirstTime):
                first_time.update(rule.triggers)
    return p.HistoryNeeds(
        dict(sorted(windows.items())), frozenset(last_seen), frozenset(first_time)
    )


def _typed_nodes(rule: p.CheckedRule) -> list[object]:
    roots: list[object] = [rule.condition]
    for action in rule.actions:
        if isinstance(action, p.CheckedSend) and action.unless is not None:
            roots.append(action.unless.where)
        elif isinstance(action, p.CheckedTask):
            roots.extend(value for _, value in action.notes)
    return [n for root in roots if root is not None for n in ast.walk(root)]
