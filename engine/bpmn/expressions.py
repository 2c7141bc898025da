"""Deploy-time translation of Camunda Modeler expressions into the Python that SpiffWorkflow evaluates.

SpiffWorkflow 3.2 evaluates every condition and timer as Python, so JUEL `${a && b}` or a bare `P14D` only
fails when a case reaches it. We translate at deploy time and refuse what we cannot translate faithfully,
so the modeller sees the problem (the caller adds the element id) before any case runs.

- `a.b` -> `a['b']` (a subscript, no method call): task data is JSON, a "bean property" is a dict key; a
  missing key raises at run time, like an undefined variable in Camunda. `a[x]` is kept.
- `x == null` -> `x is None`. Every binary operation is parenthesised, so JUEL's left-associative
  `a < b < c` does not become a Python comparison chain.
- `x > 5` -> `(x is not None and x > 5)`: in JUEL an ordering with null is false (an optional number
  left empty takes the default flow instead of failing the step).
- `empty x` -> `(x in (None, '', [], {}))`: JUEL's `empty` is true for null, "" and empty collections;
  `(not x)` would also call 0 and false empty.
- Refused: method/function calls, `%`/`mod` (Java and Python disagree on negative remainders), `+` with a
  string literal (JUEL adds numbers, Python concatenates), `instanceof`, assignment, text around `${...}`.
- Left as is: JUEL coerces types in `==` (`true == 'true'`) and `&&` ('false' is false); Python does not.
"""

import ast
import keyword
import math
import re
from datetime import datetime
from zoneinfo import ZoneInfo

_LITERAL_KINDS = ("num", "str", "bool", "null")


class TranslationError(ValueError):
    """An expression cannot be translated; the message says why (the caller adds the element id)."""


_JUEL_WORD_OPS = {"eq", "ne", "lt", "gt", "le", "ge", "div", "mod", "instanceof", "empty", "not", "and", "or"}
_JUEL_KEYWORDS = {"true", "false", "null"} | _JUEL_WORD_OPS
_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)|(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|"""
    r"(?P<num>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+)|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>&&|\|\||==|!=|<=|>=|[<>!()\[\].?:+\-*/%,])"
)
_MOD = "'%' and 'mod' are not supported (Java and Python disagree on negative remainders)"
_REFUSED_OPS = {"%": _MOD, "mod": _MOD, "instanceof": "'instanceof' is not supported"}
_WRAPPED_RE = re.compile(r"\s*[$#]\{(.*)\}\s*", re.DOTALL)  # one ${...} or #{...}
# JUEL operator spelling -> Python operator, per precedence level (lowest first).
_BINARY_LEVELS = [
    {"||": "or", "or": "or"},
    {"&&": "and", "and": "and"},
    {"==": "==", "eq": "==", "!=": "!=", "ne": "!="},
    {"<": "<", "lt": "<", ">": ">", "gt": ">", "<=": "<=", "le": "<=", ">=": ">=", "ge": ">="},
    {"+": "+", "-": "-"},
    {"*": "*", "/": "/", "div": "/"},
]


def _tokenize(src: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(src):
        m = _TOKEN_RE.match(src, pos)
        if m is None:
            char = src[pos]
            if char in "}$#{":
                raise TranslationError("write a single ${...}; text around it is not supported")
            raise TranslationError(f"unsupported character {char!r} at position {pos}")
        kind = m.lastgroup
        if kind != "ws":
            value = m.group()
            if kind == "name" and value in _JUEL_KEYWORDS:
                kind = "kw"
            tokens.append((kind, value, pos))
        pos = m.end()
    tokens.append(("end", "", pos))
    return tokens


def _unquote(literal: str) -> str:
    def unescape(m: re.Match) -> str:  # JUEL only knows \\, \' and \" in strings
        if m.group(1) in "\\'\"":
            return m.group(1)
        raise TranslationError(f"unsupported escape \\{m.group(1)} in string {literal}")

    return re.sub(r"\\(.)", unescape, literal[1:-1])


class _Parser:
    """Precedence-climbing parser emitting Python source; each node is (code, kind)."""

    def __init__(self, src: str):
        self.tokens = _tokenize(src)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str, int]:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def accept(self, *values: str) -> str | None:
        kind, value, _ = self.peek()
        if kind in ("op", "kw") and value in values:
            self.i += 1
            return value
        return None

    def expect(self, value: str) -> None:
        if not self.accept(value):
            self.fail(f"expected {value!r}")

    def fail(self, why: str):
        kind, value, pos = self.peek()
        found = "end of expression" if kind == "end" else repr(value)
        raise TranslationError(f"{why}, found {found} at position {pos}")

    def ternary(self) -> tuple[str, str]:
        cond = self.binary(0)
        if not self.accept("?"):
            return cond
        then = self.ternary()
        self.expect(":")
        other = self.ternary()
        return f"({then[0]} if {cond[0]} else {other[0]})", "expr"

    def binary(self, level: int) -> tuple[str, str]:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        ops = _BINARY_LEVELS[level]
        left = self.binary(level + 1)
        while (op := self.accept(*ops)) is not None:
            right = self.binary(level + 1)
            left = self._combine(left, ops[op], right)
        if why := _REFUSED_OPS.get(self.peek()[1]):
            self.fail(why)
        return left

    @staticmethod
    def _combine(left: tuple[str, str], op: str, right: tuple[str, str]) -> tuple[str, str]:
        if op in ("==", "!=") and "null" in (left[1], right[1]):
            other = right if left[1] == "null" else left
            return f"({other[0]} {'is' if op == '==' else 'is not'} None)", "expr"
        if op == "+" and "str" in (left[1], right[1]):
            raise TranslationError("'+' on strings is not supported (JUEL adds numbers, Python concatenates)")
        if op in ("<", ">", "<=", ">="):
            # JUEL: an ordering with null is false (an optional number left empty takes the default
            # flow); Python would raise comparing None. Literals need no check.
            guards = [f"{side[0]} is not None" for side in (left, right) if side[1] not in _LITERAL_KINDS]
            if guards:
                return f"({' and '.join(guards)} and {left[0]} {op} {right[0]})", "bool"
        # (a comparison is true or false, never null: "bool", so an ordering over it needs no guard)
        return f"({left[0]} {op} {right[0]})", "bool" if op in ("==", "!=", "<", ">", "<=", ">=") else "expr"

    def unary(self) -> tuple[str, str]:
        if op := self.accept("!", "not", "-"):
            return f"({'-' if op == '-' else 'not '}{self.unary()[0]})", "expr"
        if self.accept("empty"):
            return f"({self.unary()[0]} in (None, '', [], {{}}))", "expr"
        return self.postfix()

    def postfix(self) -> tuple[str, str]:
        start = self.peek()
        node = self.primary()
        while True:
            if self.accept("."):
                kind, name, _ = self.peek()
                if kind not in ("name", "kw"):
                    self.fail("expected a property name after '.'")
                self.i += 1
                if self.peek()[1] == "(":
                    self.fail(f"method calls are not supported (.{name}(...))")
                node = f"{node[0]}[{name!r}]", "expr"
            elif self.accept("["):
                index = self.ternary()
                self.expect("]")
                node = f"{node[0]}[{index[0]}]", "expr"
            elif self.peek()[1] == "(":
                self.fail(f"function calls are not supported ({node[0]}(...))")
            elif start[0] == "name" and self.peek()[1] == ":" and self.peek(2)[1] == "(":
                self.fail(f"function calls are not supported ({start[1]}:{self.peek(1)[1]}(...))")
            else:
                return node

    def primary(self) -> tuple[str, str]:
        kind, value, _ = self.peek()
        if self.accept("("):
            node = self.ternary()
            self.expect(")")
            return f"({node[0]})", node[1]
        if kind == "kw" and value in ("true", "false", "null"):
            self.i += 1
            return {"true": ("True", "bool"), "false": ("False", "bool"), "null": ("None", "null")}[value]
        if kind == "str":
            self.i += 1
            return repr(_unquote(value)), "str"
        if kind == "num":
            number = int(value) if value.isdigit() else float(value)  # re-emitted: JUEL allows 007
            if not math.isfinite(number):
                self.fail("number out of range")
            self.i += 1
            return repr(number), "num"
        if kind == "name":
            if keyword.iskeyword(value) or not value.isidentifier():  # `class`, `x²`
                self.fail(f"variable name {value!r} is not usable in Python; rename the variable")
            if value.startswith("_"):
                self.fail(f'variable name {value!r} starts with "_", which the script sandbox refuses')
            self.i += 1
            return value, "name"
        self.fail('expected a value, variable or "("')


def translate_condition(text: str) -> str:
    """Translate a Camunda `${...}`/`#{...}` condition to Python; other text is taken as Python source."""
    wrapped = _WRAPPED_RE.fullmatch(text)
    if wrapped is None:
        if "${" in text or "#{" in text:
            raise TranslationError("write a single ${...}; text around it is not supported")
        return text  # a SpiffWorkflow-native diagram: already Python, the sandbox checks it later
    parser = _Parser(wrapped.group(1))
    code = parser.ternary()[0]
    if parser.peek()[0] != "end":
        parser.fail("unexpected text after the expression")
    compile(code, "<condition>", "eval")  # our own output must always be valid Python
    return code


# ---- timers ------------------------------------------------------------------------------------------

_DURATION_RE = re.compile(
    r"P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?P<t>T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?"
)
_DURATION_HELP = "expected an ISO-8601 duration such as P14D, PT1H30M or P1Y2M"
_DATE_HELP = "expected an ISO-8601 date or date-time such as 2026-03-01 or 2026-03-01T09:00:00+01:00"
_CYCLE_HELP = "expected an ISO-8601 repeating interval such as R3/PT1H, R/P1D or R/2026-01-01T09:00:00/P1D"
_ISO_START_RE = re.compile(r"[Pp]|[Rr]\d*/|\d")


def parse_iso_duration(text: str) -> dict[str, int | float]:
    """The components present in an ISO-8601 duration (`P14D` -> {'days': 14}); TranslationError if bad."""
    m = _DURATION_RE.fullmatch(text.strip().upper())
    parts = {k: v for k, v in m.groupdict().items() if v is not None and k != "t"} if m else {}
    if not parts or (m.group("t") and not any(k in parts for k in ("hours", "minutes", "seconds"))):
        raise TranslationError(f"{text!r} is not a valid duration: {_DURATION_HELP}")
    if "weeks" in parts and any(k in parts for k in ("years", "months", "days")):
        # ISO-8601 (and SpiffWorkflow's parser) only allow weeks on their own.
        raise TranslationError(f"{text!r}: weeks cannot be combined with other date parts ({_DURATION_HELP})")
    return {k: float(v.replace(",", ".")) if k == "seconds" else int(v) for k, v in parts.items()}


def _datetime_source(text: str, tz: ZoneInfo) -> str:
    """ISO date-time with an explicit offset; naive values get tz's offset on that date, not Spiff's."""
    s = text.strip()
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise TranslationError(f"{text!r} is not a valid date-time: {_DATE_HELP}") from None
    if dt.tzinfo is not None and "W" not in s.upper():
        return s
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.isoformat()  # week dates too: Spiff's own week parser drops offsets from naive values


def _iso_timer(kind: str, s: str, tz: ZoneInfo) -> str:
    if kind == "timeDuration":
        parse_iso_duration(s)
        return s.upper().replace(",", ".")
    if kind == "timeDate":
        if s[:1] in "Pp":
            raise TranslationError(f"{s!r} is a duration; a timeDate needs a date: {_DATE_HELP}")
        return _datetime_source(s, tz)
    m = re.fullmatch(r"R(\d*)/(.+)", s, re.IGNORECASE)
    if m is None:
        raise TranslationError(f"{s!r} is not a valid cycle: {_CYCLE_HELP}")
    parts = m.group(2).split("/")
    is_duration = [p.strip()[:1] in "Pp" for p in parts]
    if is_duration.count(True) != 1 or len(parts) > 2:
        # Spiff supports R/duration, R/start/duration and R/duration/end only.
        raise TranslationError(f"{s!r} is not a supported cycle: {_CYCLE_HELP}")
    out = [
        _iso_timer("timeDuration", p.strip(), tz) if d else _datetime_source(p, tz)
        for p, d in zip(parts, is_duration, strict=True)
    ]
    return f"R{m.group(1)}/" + "/".join(out)


def translate_timer(kind: str, text: str, tz: str = "Europe/Stockholm") -> str:
    """Python source for a timeDate/timeDuration/timeCycle text: SpiffWorkflow 3.2 evaluates it and parses
    the resulting ISO-8601 string itself. Y/M are allowed, but Spiff freezes them to seconds when first
    evaluated, so yearly cycles drift after a leap year (Delaktig's scheduler starts yearly cases)."""
    if kind not in ("timeDate", "timeDuration", "timeCycle"):
        raise TranslationError(f"unknown timer kind {kind!r}")
    s = (text or "").strip()
    if not s:
        raise TranslationError(f"empty {kind}")
    if _WRAPPED_RE.fullmatch(s):
        # The variable must hold an ISO-8601 string; Spiff parses it (naive values: machine offset).
        return translate_condition(s)
    try:
        value = ast.literal_eval(s) if s[0] in "'\"" else None
    except (ValueError, SyntaxError):
        value = None  # e.g. 'P%dD' % n: a Python expression, handled below
    if isinstance(value, str):
        _iso_timer(kind, value.strip(), ZoneInfo(tz))  # validate only; a native diagram keeps its text
        return s
    if _ISO_START_RE.match(s):
        return repr(_iso_timer(kind, s, ZoneInfo(tz)))
    help_text = {"timeDate": _DATE_HELP, "timeDuration": _DURATION_HELP, "timeCycle": _CYCLE_HELP}[kind]
    try:
        tree = ast.parse(s, mode="eval").body
    except SyntaxError:
        raise TranslationError(f"{s!r} is not valid: {help_text}") from None
    if isinstance(tree, (ast.Name, ast.Constant)):  # `tomorrow`, `2026`: not a timer, not a real expression
        hint = f" (write ${{{s}}} for a variable)" if isinstance(tree, ast.Name) else ""
        raise TranslationError(f"{s!r} is not valid: {help_text}{hint}")
    return s  # a Python expression from a SpiffWorkflow-native diagram; the sandbox checks it later
