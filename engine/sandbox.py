"""The restricted script engine for diagrams' scripts, gateway conditions and timer expressions.

SpiffWorkflow's stock ``PythonScriptEngine`` runs diagram text with plain ``eval``/``exec``: an uploaded
diagram could run ``os.system`` from a script task, a gateway condition or a timer expression. Here every
piece of diagram code is compiled by RestrictedPython (no names or attributes starting with ``_``, no
imports, attribute/item access and writes through the guards below) and runs against a curated builtins
dict under a wall-clock time limit.

Errors, consistently:

* ``PermissionError`` - the sandbox refuses the code, at compile time (``__import__``, ``x.__class__``,
  ``try``) or at run time (``open()``, ``getattr(x, '__class__')``, writing to a non-dict/list, ``range``
  over more than 100 000 items).
* ``ValueError`` - the text is not valid Python at all (a typo, not an attack). Never ``SyntaxError``:
  SpiffWorkflow's error formatter crashes on one whose ``lineno`` is None.
* ``TimeoutError`` - the code ran longer than ``time_limit`` seconds.

Spiff wraps all three in a ``WorkflowTaskException`` whose ``error_type`` names the class.

The time limit cannot interrupt one long C-level operation (``10 ** 10 ** 8``, ``[0] * 10**9``), so the
operations that can build a huge value in one step are checked before they run (``_pow_``, ``_mul_``,
``_lshift_``, ``_add_``, ``_mod_`` — the policy rewrites ``**``, ``*``, ``<<``, ``+``, ``%`` and their
augmented forms into these calls — ``pow()``, the width of ``str.ljust``/``rjust``/``center``/``zfill``/
``expandtabs``, ``str.replace``, ``list.extend`` and f-string format specs): a value beyond ``MAX_ITEMS``
items or characters, or an integer beyond ``MAX_INT_BITS`` bits, is refused with a ``PermissionError``
("the value would be too large") before any work is done.
"""

from __future__ import annotations

import ast
import copy
import functools
import math
import operator
import re
import sys
import time
import types
from datetime import date, datetime, timedelta, timezone

from RestrictedPython import (
    PrintCollector,
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
    safe_builtins,
)
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
    safer_getattr_raise,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine import scope
from engine.bpmn.expressions import RUNTIME, JuelError, original_expression

# Spiff's error formatter finds the failing line by looking for this filename in the traceback.
FILENAME = "<string>"
MAX_RANGE = 100_000
MAX_ITEMS = 10_000_000  # items of a list/tuple, characters of a text, that one operation may build
MAX_INT_BITS = 1_000_000  # bits of an integer one operation may build (about 300 000 decimal digits)
CACHE_SIZE = 4096
# Injected at the top of every `while` body. `while True: pass` compiles to a jump onto itself, for which
# Python 3.11 emits no 'line' trace event, so the tracer would never see the loop spin; loading a name
# gives the jump a different target and a 'line' event per iteration.
_LOOP_TICK = "_loop_tick_"


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus what the time limit needs: no code may run after the tracer's
    TimeoutError (it unsets the tracer when it raises), so nothing that can catch or defer it is allowed."""

    def visit_Try(self, node):
        self.error(
            node, "try/except/finally is not allowed in diagram scripts (it could outlive the time limit)"
        )

    def visit_Import(self, node):  # RestrictedPython would defer this to a run-time __import__ lookup
        self.error(node, "imports are not allowed in diagram scripts")

    visit_ImportFrom = visit_Import

    def visit_With(self, node):
        self.error(node, "with statements are not allowed in diagram scripts")

    def visit_ClassDef(self, node):
        self.error(node, "class definitions are not allowed in diagram scripts")

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = _GUARDED_OPS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_FormattedValue(self, node):
        """``f"{x:>{n}}"``: the format spec is checked (``_format_spec_``) before it is applied."""
        node = self.node_contents_visit(node)
        if node.format_spec is not None:
            checked = ast.Call(ast.Name("_format_spec_", ast.Load()), [node.format_spec], [])
            node.format_spec = ast.JoinedStr([ast.FormattedValue(checked, -1, None)])
            ast.copy_location(node.format_spec, node)
            ast.fix_missing_locations(node)
        return node

    def visit_While(self, node):
        node = self.node_contents_visit(node)
        tick = ast.copy_location(ast.Expr(ast.Name(_LOOP_TICK, ast.Load())), node)
        node.body.insert(0, ast.fix_missing_locations(tick))
        return node


_GUARDED_OPS = {
    ast.Pow: "_pow_",
    ast.Mult: "_mul_",
    ast.LShift: "_lshift_",
    ast.Add: "_add_",
    ast.Mod: "_mod_",
}


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile(source: str, mode: str) -> types.CodeType | tuple[type[Exception], str]:
    """Compiled code, or (exception class, message) for a refusal. Conditions are evaluated very often,
    so the result is cached per source; refusals are cached as text, not as exception objects whose
    tracebacks would keep task data alive."""
    try:
        tree = ast.parse(source, FILENAME, mode)
    except SyntaxError as err:
        return ValueError, f"not valid Python on line {err.lineno or 1}: {err.msg}"
    restricted = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = restricted(tree, FILENAME, policy=_Policy)
    if result.errors:
        return PermissionError, "refused by the script sandbox: " + "; ".join(result.errors)
    return result.code


def _code(source: str, mode: str) -> types.CodeType:
    compiled = _compile(source, mode)
    if isinstance(compiled, tuple):
        raise compiled[0](compiled[1])
    return compiled


def _check(source: str, mode: str) -> str | None:
    compiled = _compile(source, mode)
    return compiled[1] if isinstance(compiled, tuple) else None


def check_expression(source: str) -> str | None:
    """Compile an expression in the sandbox without running it: an error message, or None if it is fine."""
    return _check((source or "").strip(), "eval")


def check_script(source: str) -> str | None:
    """Compile a script in the sandbox without running it: an error message, or None if it is fine."""
    return _check(source or "", "exec")


# --- guards: the names RestrictedPython's compiled code calls -------------------------------------------

_MISSING = object()


def _guarded_getattr(ob, name, default=_MISSING):
    """``x.attr`` and the ``getattr`` builtin. Compilation already refuses literal ``_`` names; this also
    covers names computed at run time, frame/code internals and ``str.format`` (which reaches attributes)."""
    if not isinstance(name, str) or name.startswith("_") or name in INSPECT_ATTRIBUTES:
        raise PermissionError(f"attribute {name!r} is not accessible in diagram scripts")
    try:
        # Plain safer_getattr defaults to None, turning a typo into a silent None; stock scripts get an
        # AttributeError, so do these.
        value = safer_getattr_raise(ob, name) if default is _MISSING else safer_getattr(ob, name, default)
    except NotImplementedError as err:  # safer_getattr's refusal of str.format and string.Formatter
        raise PermissionError(str(err)) from None
    return _sized_method(ob, name, value)


_SUBSCRIPTABLE = (dict, list, tuple, str, bytes, range)


def _guarded_getitem(ob, index):
    # Only plain data containers: task data is JSON-like, and other objects' __getitem__ is arbitrary code.
    if not isinstance(ob, _SUBSCRIPTABLE):
        raise PermissionError(f"indexing a {type(ob).__name__} is not allowed in diagram scripts")
    return ob[index]


def _guarded_iter(ob):
    # Iterating hands out only elements the code could already reach, and everything it does with them
    # goes through the other guards; this is the hook RestrictedPython requires, kept explicit.
    return iter(ob)


def _guarded_write(ob):
    # `a[k] = v`, `del a[k]`, `a.x = v`: task data is dicts and lists; anything else is not the script's.
    if type(ob) in (dict, list):
        return ob
    raise PermissionError(f"changing a {type(ob).__name__} is not allowed in diagram scripts")


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor,
}  # fmt: skip


# --- size guards: operations that could build a huge value in one C-level step --------------------------


def _too_large(what: str) -> PermissionError:
    return PermissionError(f"the value would be too large ({what}); diagram scripts keep values small")


_SEQUENCES = (str, bytes, list, tuple)


def _int(value) -> bool:
    return isinstance(value, int)  # (bool too: True * 'x' is 'x')


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise _too_large(f"{what}: an integer of about {bits:,} bits, more than {MAX_INT_BITS:,}")


def _check_items(n: int, what: str) -> None:
    if n > MAX_ITEMS:
        raise _too_large(f"{what}: {n:,} items or characters, more than {MAX_ITEMS:,}")


def _pow(a, b, mod=None):
    if _int(a) and _int(b):
        if mod is not None:
            if _int(mod):
                _check_bits(max(mod.bit_length(), b.bit_length()), "pow() with a modulus")
        elif b > 0 and abs(a) > 1:
            _check_bits(int(math.log2(abs(a)) * b) + 1, "**")
    return pow(a, b) if mod is None else pow(a, b, mod)


def _mul(a, b):
    if isinstance(a, _SEQUENCES) and _int(b):
        _check_items(len(a) * b, "*")
    elif isinstance(b, _SEQUENCES) and _int(a):
        _check_items(len(b) * a, "*")
    elif _int(a) and _int(b):
        _check_bits(a.bit_length() + b.bit_length(), "*")
    return a * b


def _lshift(a, b):
    if _int(a) and _int(b) and a and b > 0:
        _check_bits(a.bit_length() + b, "<<")
    return a << b


def _add(a, b):
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_items(len(a) + len(b), "+")
    return a + b


# %-formatting: [flags][width][.precision], either of them '*' (taken from the arguments)
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _mod(a, b):
    if isinstance(a, (str, bytes)):
        text = a.decode("latin-1") if isinstance(a, bytes) else a
        args = list(b) if isinstance(b, tuple) else [b]
        position = 0
        for m in _PERCENT.finditer(text):
            for part in (m.group(1), m.group(2)):
                if part == "*":
                    value = args[position] if position < len(args) else 0
                    position += 1
                    if _int(value):
                        _check_items(abs(value), "a %-format width")
                elif part:
                    _check_items(int(part), "a %-format width")
            if m.group(3) != "%":
                position += 1
    return a % b


def _format_spec(spec):
    """An f-string's format spec (``>10``, ``.3f``): no width or precision beyond MAX_ITEMS."""
    for digits in re.findall(r"\d+", spec if isinstance(spec, str) else ""):
        _check_items(int(digits), "a format width")
    return spec


def _width_checked(method, name: str, position: int):
    """str.ljust(width), zfill(width), center(width), rjust(width), expandtabs(tabsize)."""

    def checked(*args, **kwargs):
        width = args[position] if len(args) > position else kwargs.get("width", kwargs.get("tabsize", 0))
        if _int(width):
            size = width
            if name == "expandtabs":
                size = width * max(1, method.__self__.count("\t")) + len(method.__self__)
            _check_items(size, f"{name}()")
        return method(*args, **kwargs)

    return checked


_WIDTH_METHODS = {"ljust": 0, "rjust": 0, "center": 0, "zfill": 0, "expandtabs": 0}


def _replace_checked(method):
    def checked(old, new, count=-1):
        s = method.__self__
        if isinstance(old, type(s)) and isinstance(new, type(s)) and len(new) > len(old):
            times = s.count(old) if old else len(s) + 1
            if _int(count) and count >= 0:
                times = min(times, count)
            _check_items(len(s) + times * (len(new) - len(old)), "replace()")
        return method(old, new, count)

    return checked


def _extend_checked(method):
    def checked(items):
        if hasattr(items, "__len__"):
            _check_items(len(method.__self__) + len(items), "extend()")
        return method(items)

    return checked


def _sized_method(ob, name, value):
    """The bound methods that can build a huge value from small arguments, checked before they run."""
    if isinstance(ob, (str, bytes)):
        if name in _WIDTH_METHODS:
            return _width_checked(value, name, _WIDTH_METHODS[name])
        if name == "replace":
            return _replace_checked(value)
    elif isinstance(ob, list) and name == "extend":
        return _extend_checked(value)
    return value


def _sum(iterable, /, start=0):
    """``sum(lists, [])`` concatenates in one C-level call, copying quadratically: sequences are added
    here one at a time, each checked."""
    if not isinstance(start, _SEQUENCES):
        return sum(iterable, start)
    total = list(start)
    for item in iterable:
        if not isinstance(item, type(start)):
            raise TypeError(f"can only add {type(start).__name__} to {type(start).__name__}")
        _check_items(len(total) + len(item), "sum()")
        total.extend(item)
    return type(start)(total) if isinstance(start, tuple) else total


def check_data_size(data, what: str = "the variables") -> None:
    """What a script leaves behind, counted as it would be stored (a list shared 1000 times is stored
    1000 times): refused beyond MAX_ITEMS before the engine spends minutes serialising it."""
    budget = MAX_ITEMS
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, (str, bytes)):
            budget -= len(value) + 1
        elif isinstance(value, dict):
            budget -= len(value) + 1
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            budget -= len(value) + 1
            stack.extend(value)
        else:
            budget -= 1
        if budget < 0:
            raise _too_large(f"{what} hold more than {MAX_ITEMS:,} items or characters")


_GUARDED_INPLACE = {"**=": _pow, "*=": _mul, "<<=": _lshift, "+=": _add, "%=": _mod}


def _inplacevar(op, x, y):
    guarded = _GUARDED_INPLACE.get(op)
    if guarded is not None:
        if op == "+=" and isinstance(x, list):  # in place, as `+=` on a list is (also other iterables)
            _check_items(len(x) + (len(y) if hasattr(y, "__len__") else 0), "+=")
            return operator.iadd(x, y)
        if op == "*=" and isinstance(x, list) and _int(y):
            _check_items(len(x) * y, "*=")
            return operator.imul(x, y)
        return guarded(x, y)
    try:
        return _INPLACE[op](x, y)
    except KeyError:
        raise PermissionError(f"the operator {op} is not allowed in diagram scripts") from None


def _apply(func, *args, **kwargs):  # f(*a, **k) compiles to _apply_(f, *a, **k)
    return func(*args, **kwargs)


def _limited_range(*args):
    r = range(*args)
    try:
        too_long = len(r) > MAX_RANGE
    except OverflowError:  # longer than sys.maxsize
        too_long = True
    if too_long:
        raise PermissionError(f"range() over more than {MAX_RANGE} items is not allowed in diagram scripts")
    return r


def _refused(name):
    def refuse(*args, **kwargs):
        raise PermissionError(f"{name}() is not available in diagram scripts")

    refuse.__name__ = name
    return refuse


# A stub rather than a missing name: a clear PermissionError instead of a NameError, while task data
# may still use these as variable names (`type`, `input` are plausible form fields; globals win).
_STUBS = ("open", "type", "vars", "globals", "locals", "dir", "eval", "exec", "compile", "input",
          "breakpoint", "help", "memoryview", "object", "super", "classmethod", "staticmethod", "property",
          "setattr", "delattr", "iter", "exit", "quit")  # fmt: skip
# BaseException-only classes are left out: raising SystemExit/KeyboardInterrupt from a diagram would
# bypass Spiff's `except Exception` and take the worker down.
_DROPPED = {"__build_class__", "_getattr_", "setattr", "delattr", "BaseException", "SystemExit",
            "KeyboardInterrupt", "GeneratorExit"}  # fmt: skip

BUILTINS: dict = {name: _refused(name) for name in _STUBS}
BUILTINS.update({k: v for k, v in safe_builtins.items() if k not in _DROPPED})
BUILTINS.update(
    len=len, min=min, max=max, any=any, all=all, sorted=sorted, enumerate=enumerate, zip=zip,
    map=map, filter=filter, abs=abs, round=round, list=list, dict=dict, set=set, tuple=tuple, str=str,
    int=int, float=float, bool=bool, isinstance=isinstance, range=_limited_range, getattr=_guarded_getattr,
    pow=_pow, sum=_sum,
    # Classes, not the module: `datetime.now()` works, and their attributes still go through _getattr_.
    datetime=datetime, date=date, timedelta=timedelta, timezone=timezone,
)  # fmt: skip
# Loop ticks also live in builtins: a lambda stored in task data and called later still resolves it.
BUILTINS[_LOOP_TICK] = None

# The globals RestrictedPython's code needs. Spiff's TaskDataEnvironment merges `self.globals` into the
# context, refuses task data that shadows them (check_for_overwrite) and removes them after a script.
GUARDS = {
    "__builtins__": BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_getiter_": _guarded_iter,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_apply_": _apply,
    "_print_": PrintCollector,  # print() output is collected and dropped instead of failing
    # Size guards (see the module docstring): the policy rewrites these operators into calls of them.
    "_pow_": _pow,
    "_mul_": _mul,
    "_lshift_": _lshift,
    "_add_": _add,
    "_mod_": _mod,
    "_format_spec_": _format_spec,
    # JUEL's operators, which translated Camunda expressions call (engine.bpmn.expressions). Globals win
    # over task data in an expression, so a variable cannot replace them.
    **RUNTIME,
}


class SandboxedEnvironment(TaskDataEnvironment):
    """TaskDataEnvironment with the same data semantics (an expression sees external context then task
    data; a script's top-level assignments become task data, functions and globals are removed after),
    but diagram code is compiled restricted and runs under a time limit."""

    def __init__(self, time_limit: float = 1.0):
        super().__init__(dict(GUARDS))
        self.time_limit = time_limit

    def evaluate(self, expression, context, external_context=None):
        code = _code((expression or "").strip(), "eval")
        self._prepare_context(context)
        # The guards go last (stock puts its globals first): data must never replace __builtins__.
        my_globals = {**(external_context or {}), **context, **self.globals}
        return self._run(code, my_globals)

    def execute(self, script, context, external_context=None):
        code = _code(script, "exec")  # refuse before touching task data
        self.check_for_overwrite(context, external_context or {})
        self._prepare_context(context)
        context.update({**(external_context or {}), **copy.copy(self.globals)})
        try:
            self._run(code, context)
            check_data_size({k: v for k, v in context.items() if k not in self.globals})
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def _run(self, code: types.CodeType, scope: dict):
        """Run `code` with a tracer that raises TimeoutError at the first 'call' or 'line' event of
        sandboxed code past the deadline. Library frames are not traced (fast, and a TimeoutError is never
        raised inside code that might catch it); the previous tracer (pytest, coverage, a debugger) is
        restored afterwards."""
        limit = self.time_limit
        deadline = time.monotonic() + limit

        def check(frame, event, arg):
            if event in ("line", "call") and time.monotonic() > deadline:
                raise TimeoutError(f"diagram code ran longer than the time limit of {limit:g} s")
            return check

        def tracer(frame, event, arg):
            return check(frame, event, arg) if frame.f_code.co_filename == FILENAME else None

        previous = sys.gettrace()
        sys.settrace(tracer)
        try:
            return eval(code, scope)  # noqa: S307 - restricted code, see above
        finally:
            sys.settrace(previous)


class CaseScriptEngine(PythonScriptEngine):
    """What a script task sets or removes reaches the whole case at once (``engine.scope``), as in
    Camunda's one variable scope: a parallel branch or the next multi-instance instance reached later in
    the same step starts from it. Spread only after the step, the stale copy another task carried could
    finish later and win."""

    def evaluate(self, task, expression, external_context=None):
        try:
            return super().evaluate(task, expression, external_context)
        except WorkflowTaskException as err:
            # Spiff's message is only "Error evaluating expression ..." with the translated Python; say
            # what failed (which flow's condition returned a text, which value is not a number, which
            # variable the case does not have, the sandbox's refusal) about what the modeller wrote.
            cause = err.__context__
            shown = original_expression(expression)
            if isinstance(cause, (JuelError, PermissionError, TimeoutError)):
                message = f"{cause} (evaluating {shown})"
            elif type(cause) is NameError and cause.name and not cause.name.startswith("_"):
                message = f"variable {cause.name!r} is not set (evaluating {shown})"
            else:
                raise
            raise WorkflowTaskException(message, task=task, exception=cause) from err

    def execute(self, task, script, external_context=None):
        before = copy.deepcopy(task.data)
        result = super().execute(task, script, external_context)
        scope.share_script_changes(task, before)
        return result


def make_script_engine(time_limit: float = 1.0) -> PythonScriptEngine:
    """The script engine every BpmnWorkflow gets - at creation and again after every load."""
    return CaseScriptEngine(environment=SandboxedEnvironment(time_limit=time_limit))
