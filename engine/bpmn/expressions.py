"""Deploy-time translation of Camunda Modeler expressions into the Python that SpiffWorkflow evaluates.

SpiffWorkflow 3.2 evaluates every condition and timer as Python, so JUEL `${a && b}` or a bare `P14D` only
fails when a case reaches it. We translate at deploy time and refuse what we cannot translate faithfully,
so the modeller sees the problem (the caller adds the element id) before any case runs.

JUEL converts types where Python does not (`'1' == 1`, `null + 1`, `'false'` as false), so operators
become calls to the small `juel_*` functions below (EL 2.2 spec 1.7-1.8 and 1.18, as JUEL implements
them); the script sandbox provides them to every evaluation (`RUNTIME`). What they do, as in JUEL:

- `==`/`!=`: null equals only null; with a number on either side both are converted to numbers (`'1' == 1`
  is true, `'' == 0` too; a text that is not a number, or a Boolean, is an error: JUEL's ELException);
  else with a Boolean on either side both to Boolean (`true == 'TRUE'`, Boolean.valueOf: any other text is
  false); else two texts compare as text. `1 == 1.0` is true.
- `< > <= >=`: the same value on both sides (both null too) makes `<=`/`>=` true; otherwise null on either
  side is false; numbers as for `==`, a text with a text (or a Boolean) compares lexically, false < true.
- `+ - * /` and unary `-`: null counts as 0 (`null + null` is 0), a text is converted to a number (`'5' + 1`
  is 6), `/` always gives a float (`4 / 2` is 2.0) and never raises: `1 / 0` is Infinity, `0 / 0` NaN.
- `&&`, `||`, `!`, `?:` convert their operands to Boolean: null and "" are false, a text is true only if it
  is "true" (any case), a number is an error. The result is always true or false.
- A gateway condition (and a completionCondition) must return a Boolean, as Camunda requires ("condition
  expression returns non-Boolean"): anything else, null included, fails the step naming the flow.

What the translation itself does:

- `a.b` and `a[x]` -> `juel_get(a, 'b')`, `juel_get(a, x)` (no method call): task data is JSON, a "bean
  property" is a dict key. As in JUEL, a property of null, a missing key and a list index out of range are
  null; only an undefined variable itself is an error (as in Camunda).
- Two texts that are both ISO-8601 dates or timestamps (Delaktig's Date variables) compare as instants in
  `==` and the orderings (a date alone is Swedish midnight), as Camunda compares two Dates.
- `x == null` -> `x is None` (the same as JUEL, and what the gateway coverage check reads best).
- `empty x` -> `(x in (None, '', [], {}))`: JUEL's `empty` is true for null, "" and empty collections;
  `(not x)` would also call 0 and false empty.
- Refused: method/function calls, `%`/`mod` (Java and Python disagree on negative remainders), arithmetic
  with a text literal that is no number (`'Hej ' + namn`: JUEL adds, it never concatenates), `instanceof`,
  assignment, text around `${...}`, variable names the sandbox or these functions use.

Still different from JUEL: no 64-bit overflow (Python integers
are unbounded); `0.0 == -0.0` is true and NaN is never equal to NaN (Java's Double.equals says the
opposite); a map or list compared with a text is unequal (JUEL compares its toString()), and ordering maps
or lists is an error; texts compare by code point (Java by UTF-16 unit: differs only beyond U+FFFF).
"""

import ast
import keyword
import math
import operator
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo


class TranslationError(ValueError):
    """An expression cannot be translated; the message says why (the caller adds the element id)."""


# ---- run time: JUEL's operators, called by the translated code -----------------------------------------


class JuelError(ValueError):
    """JUEL's ELException: a value JUEL would not convert (`'abc' == 1`, `!5`), or a condition that did not
    return a Boolean. The step fails with this message; never a silent false."""


_LONG_RE = re.compile(r"[+-]?[0-9]+")  # Long.valueOf: no spaces, no decimals
_DOUBLE_RE = re.compile(r"\s*[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*")


def _describe(value) -> str:
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value, as_float: bool) -> int | float:
    """EL's coercion to Long, or to Double when `as_float` (EL 1.18.3): null and "" are 0."""
    if value is None or value == "":
        return 0.0 if as_float else 0
    if _is_number(value):
        return float(value) if as_float else value
    if isinstance(value, str) and (_DOUBLE_RE if as_float else _LONG_RE).fullmatch(value):
        return float(value) if as_float else int(value)
    raise JuelError(f"{_describe(value)} is not a number")


def _dot_e(value) -> bool:
    """JUEL computes `+ - *` in Double when an operand is a float or a text with '.', 'e' or 'E'."""
    return isinstance(value, float) or (isinstance(value, str) and any(c in value for c in ".eE"))


def juel_bool(value) -> bool:
    """EL's coercion to Boolean (1.18.5): null and "" are false, a text is Boolean.valueOf (only "true", in
    any case, is true), anything else is an error."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.lower() == "true"
    raise JuelError(f"{_describe(value)} is not a Boolean")


def juel_eq(a, b) -> bool:
    """EL `==` (1.8.2)."""
    if a is b:
        return True
    if a is None or b is None:
        return False
    if _is_number(a) or _is_number(b):
        as_float = isinstance(a, float) or isinstance(b, float)
        return _number(a, as_float) == _number(b, as_float)
    if isinstance(a, bool) or isinstance(b, bool):
        return juel_bool(a) == juel_bool(b)
    if isinstance(a, str) or isinstance(b, str):
        if (moments := _instants(a, b)) is not None:
            return moments[0] == moments[1]
        # JUEL compares a map's or list's toString() with the text: never a text anyone writes.
        return type(a) is type(b) and a == b
    return a == b


def juel_ne(a, b) -> bool:
    return not juel_eq(a, b)


def juel_get(base, key):
    """EL's `a.b` and `a[b]` (1.6): a property of null is null; a map's missing key is null; a list's
    index is converted to a number (`a['0']`) and one out of range is null; anything else has no
    properties (an error, as JUEL's PropertyNotFoundException)."""
    if base is None:
        return None
    if isinstance(base, dict):
        try:
            return base.get(key)
        except TypeError:  # an unhashable key (a list): no such key
            return None
    if isinstance(base, list | tuple):
        if isinstance(key, bool) or not (_is_number(key) or isinstance(key, str)):
            raise JuelError(f"{_describe(key)} cannot index a list")
        index = _number(key, False) if isinstance(key, str) else key
        if isinstance(index, float):
            index = int(index)
        return base[index] if 0 <= index < len(base) else None
    raise JuelError(f"{_describe(base)} has no property {key!r}")


# A date variable is an ISO-8601 text in Delaktig (a java.util.Date in Camunda): two of them compare as the
# instants they are, not as text ("2026-05-01" and "2026-05-01T00:00:00+02:00" are the same Swedish
# midnight; texts with different offsets are not ordered by their letters).
_ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)
_STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _instant(text: str) -> datetime | None:
    if not _ISO_DATE.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=_STOCKHOLM)


def _instants(a, b) -> tuple[datetime, datetime] | None:
    if isinstance(a, str) and isinstance(b, str):
        x, y = _instant(a), _instant(b)
        if x is not None and y is not None:
            return x, y
    return None


def _text(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    raise JuelError(f"{_describe(value)} cannot be compared with a text")


def _order(a, b, compare, same: bool) -> bool:
    """EL `< > <= >=` (1.8.1); `same` is the answer when both sides are the same value (both null too)."""
    if a is b:
        return same
    if a is None or b is None:
        return False
    if _is_number(a) or _is_number(b):
        as_float = isinstance(a, float) or isinstance(b, float)
        return compare(_number(a, as_float), _number(b, as_float))
    if (moments := _instants(a, b)) is not None:
        return compare(*moments)
    if isinstance(a, str) or isinstance(b, str):
        return compare(_text(a), _text(b))
    if type(a) is type(b) and isinstance(a, bool | date):  # Java's Comparable: Boolean, Date
        return compare(a, b)
    raise JuelError(f"{_describe(a)} and {_describe(b)} cannot be ordered")


def juel_lt(a, b) -> bool:
    return _order(a, b, operator.lt, False)


def juel_gt(a, b) -> bool:
    return _order(a, b, operator.gt, False)


def juel_le(a, b) -> bool:
    return _order(a, b, operator.le, True)


def juel_ge(a, b) -> bool:
    return _order(a, b, operator.ge, True)


def _arithmetic(a, b, compute) -> int | float:
    if a is None and b is None:
        return 0
    as_float = _dot_e(a) or _dot_e(b)
    return compute(_number(a, as_float), _number(b, as_float))


def juel_add(a, b) -> int | float:
    return _arithmetic(a, b, operator.add)


def juel_sub(a, b) -> int | float:
    return _arithmetic(a, b, operator.sub)


def juel_mul(a, b) -> int | float:
    return _arithmetic(a, b, operator.mul)


def juel_div(a, b) -> int | float:
    """EL `/` is always Double division, which never raises: x/0 is ±Infinity and 0/0 is NaN."""
    if a is None and b is None:
        return 0
    x, y = _number(a, True), _number(b, True)
    if y == 0:
        # (a new NaN each time: juel_eq's `a is b` must not make two NaNs equal)
        return float("nan") if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1, y)
    return x / y


def juel_neg(value) -> int | float:
    if value is None:
        return 0
    if isinstance(value, str) or _is_number(value):
        return -_number(value, _dot_e(value))
    raise JuelError(f"{_describe(value)} cannot be negated")


def juel_condition(value, where: str) -> bool:
    """A condition's result: Camunda refuses anything but a Boolean ("condition expression returns
    non-Boolean", or null), so `'false'` can never be taken as true."""
    if isinstance(value, bool):
        return value
    raise JuelError(f"{where} returned {_describe(value)}, not a Boolean")


# What the script sandbox puts in every evaluation's globals.
RUNTIME = {
    f.__name__: f
    for f in [juel_bool, juel_eq, juel_ne, juel_lt, juel_gt, juel_le, juel_ge, juel_get]
    + [juel_add, juel_sub, juel_mul, juel_div, juel_neg, juel_condition]
}
_CONDITION_RE = re.compile(r"juel_condition\((.*), '[^'\\]*'\)", re.DOTALL)


def without_condition_check(code: str) -> str:
    """The expression inside `juel_condition(..., 'where')`: the gateway coverage check wants its values,
    not the element name."""
    m = _CONDITION_RE.fullmatch(code)
    return m.group(1) if m else code


# ---- translation ------------------------------------------------------------------------------------------


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
# JUEL operator spelling -> Python `and`/`or` or the juel_* function, per precedence level (lowest first).
_BINARY_LEVELS = [
    {"||": "or", "or": "or"},
    {"&&": "and", "and": "and"},
    {"==": "eq", "eq": "eq", "!=": "ne", "ne": "ne"},
    {"<": "lt", "lt": "lt", ">": "gt", "gt": "gt", "<=": "le", "le": "le", ">=": "ge", "ge": "ge"},
    {"+": "add", "-": "sub"},
    {"*": "mul", "/": "div", "div": "div"},
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
        kind = "bool" if then[1] == other[1] == "bool" else "expr"
        return f"({then[0]} if {_boolean(cond)} else {other[0]})", kind

    def binary(self, level: int) -> tuple[str, str]:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        ops = _BINARY_LEVELS[level]
        left = self.binary(level + 1)
        while (op := self.accept(*ops)) is not None:
            right = self.binary(level + 1)
            left = self._combine(left, op, ops[op], right)
        if why := _REFUSED_OPS.get(self.peek()[1]):
            self.fail(why)
        return left

    @staticmethod
    def _combine(left: tuple[str, str], op: str, name: str, right: tuple[str, str]) -> tuple[str, str]:
        # Every result is a call or parenthesised, so JUEL's left-associative `a < b < c` never becomes a
        # Python comparison chain. Kind "bool": surely true or false, so no juel_bool() around it.
        if name in ("and", "or"):
            return f"({_boolean(left)} {name} {_boolean(right)})", "bool"
        if name in ("eq", "ne") and "null" in (left[1], right[1]):
            other = right if left[1] == "null" else left
            return f"({other[0]} {'is' if name == 'eq' else 'is not'} None)", "bool"
        if name in ("add", "sub", "mul", "div"):
            _number_literal(left, op)
            _number_literal(right, op)
            return f"juel_{name}({left[0]}, {right[0]})", "expr"
        return f"juel_{name}({left[0]}, {right[0]})", "bool"

    def unary(self) -> tuple[str, str]:
        if self.accept("!", "not"):
            return f"(not {_boolean(self.unary())})", "bool"
        if self.accept("-"):
            operand = self.unary()
            if operand[1] == "num":
                return f"(-{operand[0]})", "num"
            _number_literal(operand, "-")
            return f"juel_neg({operand[0]})", "expr"
        if self.accept("empty"):
            return f"({self.unary()[0]} in (None, '', [], {{}}))", "bool"
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
                node = f"juel_get({node[0]}, {name!r})", "expr"
            elif self.accept("["):
                index = self.ternary()
                self.expect("]")
                node = f"juel_get({node[0]}, {index[0]})", "expr"
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
            if value in RUNTIME:
                self.fail(f"variable name {value!r} is reserved for Delaktig's JUEL operators; rename it")
            self.i += 1
            return value, "name"
        self.fail('expected a value, variable or "("')


def _boolean(node: tuple[str, str]) -> str:
    return node[0] if node[1] == "bool" else f"juel_bool({node[0]})"


def _number_literal(node: tuple[str, str], op: str) -> None:
    """A text literal in arithmetic must be a number (JUEL converts it); `'Hej ' + x` would always fail."""
    if node[1] != "str":
        return
    text = ast.literal_eval(node[0])
    if text and not _DOUBLE_RE.fullmatch(text):
        raise TranslationError(
            f"{text!r} is not a number, and JUEL's {op!r} only computes with numbers (it does not join text)"
        )


def translate_condition(text: str, condition_of: str | None = None) -> str:
    """Translate a Camunda `${...}`/`#{...}` expression to Python; other text is taken as Python source.

    With `condition_of` (what to call it in a message: "the condition of sequence flow Flow_1") it is a
    condition, whose result must be a Boolean: anything else fails the step, as in Camunda."""
    wrapped = _WRAPPED_RE.fullmatch(text)
    if wrapped is None:
        if "${" in text or "#{" in text:
            raise TranslationError("write a single ${...}; text around it is not supported")
        return text  # a SpiffWorkflow-native diagram: already Python, the sandbox checks it later
    parser = _Parser(wrapped.group(1))
    code, kind = parser.ternary()
    if parser.peek()[0] != "end":
        parser.fail("unexpected text after the expression")
    if condition_of is not None and kind != "bool":
        code = f"juel_condition({code}, {condition_of!r})"
    compile(code, "<condition>", "eval")  # our own output must always be valid Python
    if len(_ORIGINALS) >= _MAX_ORIGINALS:
        _ORIGINALS.clear()
    _ORIGINALS[code] = text
    return code


# Translated code → the modeller's expression, for run-time error messages (filled again whenever a
# definition is compiled, also after a restart).
_ORIGINALS: dict[str, str] = {}
_MAX_ORIGINALS = 100_000


def original_expression(code: str) -> str:
    """The expression as the modeller wrote it (``${belopp > 1000}``) for translated ``code``; else the
    code itself (a Python condition is its own original)."""
    return _ORIGINALS.get((code or "").strip(), code)


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
