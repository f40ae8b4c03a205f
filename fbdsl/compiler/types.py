"""The fbdsl type system: the types, how written types resolve, and the operator rules.

Types are values (`INT`, `EnumType(("a", "b"))`, `ListType(STRING)`); the checker asks this
module what an operator accepts and yields, so every typing rule lives in one place.
"""

from __future__ import annotations

import attrs

PRIMITIVE_NAMES = ("int", "number", "string", "bool", "time", "duration")


@attrs.frozen(slots=True)
class Primitive:
    name: str

    def __str__(self) -> str:
        return self.name


@attrs.frozen(slots=True)
class EnumType:
    """`"a" | "b"`: a string restricted to these values."""

    values: tuple[str, ...]

    def __str__(self) -> str:
        return " | ".join(f'"{v}"' for v in self.values)


@attrs.frozen(slots=True)
class ListType:
    element: Type

    def __str__(self) -> str:
        return f"list<{self.element}>"


Type = Primitive | EnumType | ListType

INT = Primitive("int")
NUMBER = Primitive("number")
STRING = Primitive("string")
BOOL = Primitive("bool")
TIME = Primitive("time")
DURATION = Primitive("duration")
CLOCK = Primitive("clock")  # a time of day: only in `quiet hours`
EMPTY_LIST = ListType(Primitive("nothing"))  # the type of `[]`

PRIMITIVES = {p.name: p for p in (INT, NUMBER, STRING, BOOL, TIME, DURATION)}

LITERAL_TYPES = {
    "int": INT,
    "number": NUMBER,
    "string": STRING,
    "bool": BOOL,
    "duration": DURATION,
    "percent": NUMBER,  # 25% is the number 0.25
    "clock": CLOCK,
}


def is_numeric(t: Type) -> bool:
    return t in (INT, NUMBER)


def is_stringlike(t: Type) -> bool:
    return t == STRING or isinstance(t, EnumType)


def is_ordered(t: Type) -> bool:
    """Types that `< <= > >=` accept."""
    return is_numeric(t) or t in (DURATION, TIME)


def same_family(a: Type, b: Type) -> bool:
    """Whether values of a and b can be compared for equality."""
    if is_numeric(a) and is_numeric(b):
        return True
    if is_stringlike(a) and is_stringlike(b):
        return True
    if isinstance(a, ListType) and isinstance(b, ListType):
        return a == EMPTY_LIST or b == EMPTY_LIST or same_family(a.element, b.element)
    return a == b


def assignable(value: Type, target: Type) -> bool:
    """Whether a value of type `value` may stand where `target` is declared (defaults)."""
    if value == target:
        return True
    if value == INT and target == NUMBER:
        return True
    if value == STRING and isinstance(target, EnumType):
        return True  # membership is checked on the literal itself
    if isinstance(target, ListType) and isinstance(value, ListType):
        return value == EMPTY_LIST or assignable(value.element, target.element)
    return False


def arithmetic_result(op: str, left: Type, right: Type) -> Type | None:
    """The type of `left op right`, or None when the operator does not apply."""
    if is_numeric(left) and is_numeric(right):
        if op == "/":
            return NUMBER
        return INT if left == right == INT else NUMBER
    if op in "+-":
        if left == right == DURATION:
            return DURATION
        if left == TIME and right == DURATION:
            return TIME
        if op == "+" and left == DURATION and right == TIME:
            return TIME
        if op == "-" and left == right == TIME:
            return DURATION
        return None
    if op == "*" and {left, right} <= {DURATION, INT, NUMBER} and DURATION in (left, right):
        return DURATION if (left == DURATION) != (right == DURATION) else None
    if op == "/" and left == DURATION:
        if is_numeric(right):
            return DURATION
        if right == DURATION:
            return NUMBER
    return None


def describe(t: Type) -> str:
    """A type as a rule author reads it, with an article."""
    if isinstance(t, EnumType):
        return f"one of {t}"
    if isinstance(t, ListType):
        return "a list" if t == EMPTY_LIST else f"a list of {t.element}"
    article = "an" if t.name[0] in "aeiou" else "a"
    if t == CLOCK:
        return "a time of day"
    return f"{article} {t.name}"
