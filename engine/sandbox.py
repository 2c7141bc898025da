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

The time limit is a tracer: it fires between lines of diagram code, so it cannot interrupt one long
C-level operation (``10 ** 10 ** 8``, ``[0] * 10**9``, ``str()`` of a huge list), and such an operation
holds the GIL: every other request of the web process stalls meanwhile. So the operations that can build
or walk a huge value in one step are checked before they run, and refused with a ``PermissionError``
("the value would be too large") beyond ``MAX_ITEMS`` items or characters, or ``MAX_INT_BITS`` bits:

* building: ``**``, ``*``, ``<<``, ``+``, ``%`` and their augmented forms (the policy rewrites them into
  ``_pow_`` ... ``_mod_`` calls), ``pow()``, ``sum()``; the methods ``str``/``bytes`` ``ljust``/``rjust``/
  ``center``/``zfill``/``expandtabs`` (width), ``replace``, ``join`` (the parts' total length),
  ``encode`` (4 bytes a character, 10 escaping), ``hex``, ``translate``, ``list.extend``, ``int.to_bytes``
  - bound, or reached through the class (``str.ljust(s, n)``); f-strings (each value and format spec, and
  the parts' total before they are joined: the policy rewrites them into ``_fvalue_``/``_fjoin_`` calls);
  displays with several starred parts (``[*a, *a]``, ``_star_display_``); ``printed``.
* walking: a structure small in memory can be huge to walk when a list is shared by many slots
  (``[a] * n``, ``x = [x, x]`` sixty times). ``virtual_size`` counts what a walk would go through
  (shared parts every time, each container gathered once per level, stopping past the limit) before
  ``str()``, ``repr()``, ``ascii()``, ``format()``, ``print()``, ``%s``/``%r``, f-string values,
  ``sorted()``, ``min()``, ``max()`` (or their keys), ``list.sort``/``count``/``index``/``remove``,
  ``hash()``, tuples as set members or dict keys (displays, comprehensions, ``d[t] = v``, ``d[t]``),
  the argument of ``set()``/``dict()``/``tuple()``, the operands of ``==``, ``<``, ``in``... (the policy wraps
  them in ``_compared_``/``_contains_``), and in ``*`` when a list or tuple is repeated. Nesting deeper
  than ``MAX_DEPTH`` (or a cycle) counts as too large. What a script leaves in the variables is counted
  the same way against ``MAX_DATA_ITEMS`` (``check_data_size``).

What remains: each guarded operation may still take up to about a second of CPU on a value just below
the limits (most of it in C, in pieces of a few milliseconds, or in Python between which other threads
run), so a process owner able to deploy a diagram, or a native Python gateway condition, can still keep
one worker process busy for about a second per operation, until the time limit stops the script. Some
C-level walks are not guarded: hashing a deeply shared tuple through a method (``d.get(t)``,
``s.add(t)``) or from a generator (``set(t for ...)``); comparisons inside library code (the JUEL helpers ``juel_eq`` etc. when a Python condition
calls them with such a structure; task data that reached a case already passed ``check_data_size``);
``f(*a, *a)`` call arguments. Memory is bounded per operation, not per script: many operations can each
build a value just under the limit. Running scripts in a separate process with an RLIMIT and a hard
kill would close these for good.
"""

from __future__ import annotations

import ast
import collections
import copy
import functools
import itertools
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
from engine.bpmn.expressions import RUNTIME, JuelError, original_expression, translate_condition

# Spiff's error formatter finds the failing line by looking for this filename in the traceback.
FILENAME = "<string>"
MAX_RANGE = 100_000
# Items of a list/tuple, characters of a text, that one operation may build or walk. Routine scripts
# handle hundreds of items (and range() stops at MAX_RANGE); a million leaves ample room.
MAX_ITEMS = 1_000_000
# What a script may leave in the case's variables (counted as stored, shared lists each time): more
# generous, as submitted variables (a pasted text) count too.
MAX_DATA_ITEMS = 10_000_000
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

    def visit_JoinedStr(self, node):
        """``f"{a}-{b!r:>{n}}"`` becomes ``_fjoin_(_fvalue_(a, -1, ""), "-", _fvalue_(b, 114, _fjoin_(...)))``:
        each value is formatted by ``_fvalue_`` (what str()/repr() walks and the format spec checked first),
        and the parts' total length is checked before they are joined (``_fjoin_``)."""
        node = self.node_contents_visit(node)
        if not any(isinstance(v, ast.FormattedValue) for v in node.values):
            return node
        parts = [self._formatted(v) if isinstance(v, ast.FormattedValue) else v for v in node.values]
        call = ast.Call(ast.Name("_fjoin_", ast.Load()), parts, [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    @staticmethod
    def _formatted(node: ast.FormattedValue) -> ast.expr:
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        call = ast.Call(
            ast.Name("_fvalue_", ast.Load()), [node.value, ast.Constant(node.conversion), spec], []
        )
        return ast.copy_location(call, node)

    def visit_FormattedValue(self, node):  # (only inside a JoinedStr, which replaces it)
        return self.node_contents_visit(node)

    def _star_display(self, node, kind: str):
        """``[*a, *a, *a]``, ``(*a, *b)``, ``{*a, *b}``: ``_star_display_`` adds up the parts' lengths first."""
        node = self.node_contents_visit(node)
        if not isinstance(getattr(node, "ctx", ast.Load()), ast.Load):
            return node
        # (one starred part copies a value that exists; a set's members are hashed, so checked too)
        if sum(isinstance(e, ast.Starred) for e in node.elts) < (1 if kind == "set" else 2):
            return node
        parts = [
            ast.Tuple([ast.Constant(isinstance(e, ast.Starred)), e.value if isinstance(e, ast.Starred) else e],
                      ast.Load())
            for e in node.elts
        ]  # fmt: skip
        call = ast.Call(ast.Name("_star_display_", ast.Load()), [ast.Constant(kind), *parts], [])
        return ast.fix_missing_locations(ast.copy_location(call, node))

    def visit_List(self, node):
        return self._star_display(node, "list")

    def visit_Tuple(self, node):
        return self._star_display(node, "tuple")

    def visit_Set(self, node):
        node = self._star_display(node, "set")
        if isinstance(node, ast.Set):
            node.elts = [_hashed(e) for e in node.elts]
        return node

    def visit_Dict(self, node):
        node = self.node_contents_visit(node)
        node.keys = [None if k is None else _hashed(k) for k in node.keys]  # (None: a **mapping)
        return node

    def visit_SetComp(self, node):
        node = self.node_contents_visit(node)
        node.elt = _hashed(node.elt)
        return node

    def visit_DictComp(self, node):
        node = self.node_contents_visit(node)
        node.key = _hashed(node.key)
        return node

    def visit_Subscript(self, node):
        node = super().visit_Subscript(node)
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, (ast.Store, ast.Del))
            and not isinstance(node.slice, ast.Slice)
        ):
            node.slice = _hashed(node.slice)  # `d[t] = v` hashes t (reading goes through _getitem_)
        return node

    def visit_Compare(self, node):
        """``a == b``, ``a < b``, ``a in b``: what C walks to compare is checked first (``_compared_``); the
        dict or set right of ``in`` is not walked (a lookup hashes only the left side)."""
        node = self.node_contents_visit(node)

        def wrap(operand, before, after):
            # `x is None` compares identities only; constants are small.
            ops = [op for op in (before, after) if op is not None and not isinstance(op, (ast.Is, ast.IsNot))]
            if not ops or isinstance(operand, ast.Constant):
                return operand
            guard = (
                "_contains_" if ops == [before] and isinstance(before, (ast.In, ast.NotIn)) else "_compared_"
            )
            return ast.copy_location(ast.Call(ast.Name(guard, ast.Load()), [operand], []), operand)

        ops = node.ops
        node.left = wrap(node.left, None, ops[0])
        node.comparators = [
            wrap(c, ops[i], ops[i + 1] if i + 1 < len(ops) else None) for i, c in enumerate(node.comparators)
        ]
        return ast.fix_missing_locations(node)

    def visit_While(self, node):
        node = self.node_contents_visit(node)
        tick = ast.copy_location(ast.Expr(ast.Name(_LOOP_TICK, ast.Load())), node)
        node.body.insert(0, ast.fix_missing_locations(tick))
        return node


def _hashed(node: ast.expr) -> ast.expr:
    """A set member or dict key: hashing a tuple walks it (``_hashed_``)."""
    if isinstance(node, (ast.Constant, ast.Starred)):
        return node
    call = ast.Call(ast.Name("_hashed_", ast.Load()), [node], [])
    return ast.fix_missing_locations(ast.copy_location(call, node))


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
    if isinstance(ob, _CheckedClass):  # `str.upper`: the class's own attribute
        ob = ob.cls
    try:
        # Plain safer_getattr defaults to None, turning a typo into a silent None; stock scripts get an
        # AttributeError, so do these.
        value = safer_getattr_raise(ob, name) if default is _MISSING else safer_getattr(ob, name, default)
    except NotImplementedError as err:  # safer_getattr's refusal of str.format and string.Formatter
        raise PermissionError(str(err)) from None
    if isinstance(ob, type):
        return _class_method(ob, name, value)
    return _sized_method(ob, name, value)


_SUBSCRIPTABLE = (dict, list, tuple, str, bytes, range)


def _guarded_getitem(ob, index):
    # Only plain data containers: task data is JSON-like, and other objects' __getitem__ is arbitrary code.
    if not isinstance(ob, _SUBSCRIPTABLE):
        raise PermissionError(f"indexing a {type(ob).__name__} is not allowed in diagram scripts")
    if isinstance(index, tuple):  # d[t] hashes the tuple, walking it
        _check_walk(index, "a tuple key")
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
_CONTAINERS = (list, tuple, dict, set, frozenset)


def _int(value) -> bool:
    return isinstance(value, int)  # (bool too: True * 'x' is 'x')


def _check_bits(bits: int, what: str) -> None:
    if bits > MAX_INT_BITS:
        raise _too_large(f"{what}: an integer of about {bits:,} bits, more than {MAX_INT_BITS:,}")


def _check_items(n: int, what: str) -> None:
    if n > MAX_ITEMS:
        raise _too_large(f"{what}: {n:,} items or characters, more than {MAX_ITEMS:,}")


def _leaf_size(value) -> int:
    """What a non-container adds beyond its own slot: a text's characters, a big integer's digits."""
    if isinstance(value, (str, bytes, bytearray)):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3  # about the decimal digits (only big ones are counted in a walk)
    return 0


_IS_CONTAINER = frozenset(_CONTAINERS).__contains__
_IS_DICT = frozenset({dict}).__contains__
_IS_TEXT = frozenset({str, bytes, bytearray}).__contains__
_IS_INT = frozenset({int}).__contains__
_IS_TUPLE = frozenset({tuple}).__contains__
_SMALL_INT = 0xFFFFFFFF
MAX_DEPTH = 500  # deeper nesting (or a cycle) is refused as too large


def virtual_size(value, limit: int = MAX_ITEMS) -> int:
    """The items and characters ``str()``, ``repr()``, ``sorted()`` or ``==`` go through in ``value``: a list
    shared by 1000 slots counts 1000 times (``b = [a] * 1000``, ``x = [x, x]`` sixty times).

    Walked level by level with C-level builtins only (map/compress/chain/Counter: Python code runs slowly
    under the time limit's tracer), each container of a level once with its number of occurrences as a
    weight (merged by id), so ``x = [x, x]`` sixty times is sixty small steps. Each level's slots are
    counted before the level below is gathered, and the walk returns a number beyond `limit` as soon as
    the count passes it: the work stays within about `limit` steps whatever the structure."""
    if not _IS_CONTAINER(type(value)):
        return _leaf_size(value)
    total = 0
    level, weights = [value], None  # weights None: each container of the level occurs once
    for _depth in range(MAX_DEPTH):
        total += sum(map(len, level)) if weights is None else sum(map(operator.mul, map(len, level), weights))
        if total > limit:
            return total
        children, child_weights = _gather(level, weights)
        kinds = list(map(type, children))
        mask = list(map(_IS_TEXT, kinds))
        if any(mask):
            texts = map(len, itertools.compress(children, mask))
            if child_weights is None:
                total += sum(texts)
            else:
                total += sum(map(operator.mul, texts, itertools.compress(child_weights, mask)))
        mask = list(map(_IS_INT, kinds))
        if any(mask):
            ints = list(itertools.compress(children, mask))
            if max(ints) > _SMALL_INT or min(ints) < -_SMALL_INT:
                ones = itertools.repeat(1)
                int_weights = ones if child_weights is None else itertools.compress(child_weights, mask)
                big = list(map(_SMALL_INT.__lt__, map(abs, ints)))
                digits = map(int.bit_length, itertools.compress(ints, big))
                total += sum(map(operator.mul, digits, itertools.compress(int_weights, big))) // 3
        if total > limit:
            return total
        mask = list(map(_IS_CONTAINER, kinds))
        level = list(itertools.compress(children, mask))
        weights = None if child_weights is None else list(itertools.compress(child_weights, mask))
        if not level:
            return total
        if len(level) > 1 and (weights is None or len(set(weights)) == 1):
            ids = list(map(id, level))
            counts = collections.Counter(ids)
            if len(counts) < len(ids):  # the same container in many slots: gathered once, with a weight
                weight = 1 if weights is None else weights[0]
                level = list(dict(zip(ids, level, strict=True)).values())  # (Counter's order)
                weights = list(map(operator.mul, counts.values(), itertools.repeat(weight)))
    return max(total, limit + 1)


def _gather(level: list, weights: list | None) -> tuple[list, list | None]:
    """The children of a level's containers (a dict's keys and values), with their weights."""
    chain, compress, repeat = itertools.chain, itertools.compress, itertools.repeat
    is_dict = list(map(_IS_DICT, map(type, level)))
    if not any(is_dict):
        children = list(chain.from_iterable(level))
        if weights is None:
            return children, None
        return children, list(chain.from_iterable(map(repeat, weights, map(len, level))))
    dicts = list(compress(level, is_dict))
    not_dict = list(map(operator.not_, is_dict))
    others = list(compress(level, not_dict))
    children = list(
        chain(
            chain.from_iterable(others),
            chain.from_iterable(map(dict.keys, dicts)),
            chain.from_iterable(map(dict.values, dicts)),
        )
    )
    if weights is None:
        return children, None
    dict_weights = list(chain.from_iterable(map(repeat, compress(weights, is_dict), map(len, dicts))))
    other_weights = chain.from_iterable(map(repeat, compress(weights, not_dict), map(len, others)))
    return children, list(chain(other_weights, dict_weights, dict_weights))


def _check_walk(value, what: str, times: int = 1) -> None:
    """Refuse `value` (repeated `times` times) if walking it would go through more than MAX_ITEMS."""
    if times > 0 and isinstance(value, _CONTAINERS):
        size = virtual_size(value, MAX_ITEMS // times)
        if size * times > MAX_ITEMS:
            raise _too_large(
                f"{what}: at least {size * times:,} items or characters counting repeats, more than "
                f"{MAX_ITEMS:,}"
            )


def _check_repeat(seq, times, what: str) -> None:
    _check_items(len(seq) * times, what)
    if times > 1 and isinstance(seq, (list, tuple)):
        _check_walk(seq, what, times)  # [a] * n: str(), sorted() and == would walk a n times


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
        _check_repeat(a, b, "*")
    elif isinstance(b, _SEQUENCES) and _int(a):
        _check_repeat(b, a, "*")
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


# %-formatting: [(name)][flags][width][.precision], width and precision either '*' (from the arguments)
_PERCENT = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _mod(a, b):
    """``'%s' % x``: widths, and the length of the result (the texts, the walked containers) checked."""
    if isinstance(a, (str, bytes)):
        text = a.decode("latin-1") if isinstance(a, bytes) else a
        args = list(b) if isinstance(b, tuple) else [b]
        position = 0
        total = len(text)
        for m in _PERCENT.finditer(text):
            total -= len(m.group(0))  # (the spec itself is replaced)
            for part in (m.group(2), m.group(3)):
                if part == "*":
                    value = args[position] if position < len(args) else 0
                    position += 1
                    if _int(value):
                        _check_items(abs(value), "a %-format width")
                        total += abs(value)
                elif part:
                    _check_items(int(part), "a %-format width")
                    total += int(part)
            if m.group(4) == "%":
                continue
            if m.group(1) is not None:
                value = b.get(m.group(1)) if isinstance(b, dict) else None
            else:
                value = args[position] if position < len(args) else None
                position += 1
            if m.group(4) in "sra":
                _check_walk(value, "%-formatting")
                total += virtual_size(value)
            _check_items(total, "%-formatting")
    return a % b


def _format_spec(spec):
    """A format spec (``>10``, ``.3f``): no width or precision beyond MAX_ITEMS."""
    for digits in re.findall(r"\d+", spec if isinstance(spec, str) else ""):
        _check_items(int(digits), "a format width")
    return spec


_CONVERSIONS = {-1: None, 115: str, 114: repr, 97: ascii}


def _fvalue(value, conversion, spec):
    """One ``{value!r:spec}`` of an f-string: what str()/repr() walks, and the spec, checked first."""
    _check_walk(value, "an f-string")
    _format_spec(spec)
    convert = _CONVERSIONS[conversion]
    return format(value if convert is None else convert(value), spec)


def _fjoin(*parts):
    """An f-string's parts, joined once their total length is checked (``f"{s}{s}{s}"``)."""
    _check_items(sum(map(len, parts)), "an f-string")
    return "".join(parts)


def _star_display(kind, *parts):
    """``[*a, *b]``, ``(*a, *b)``, ``{*a, *b}``: the parts' lengths added up before anything is copied."""
    total = 0
    values = []
    for starred, value in parts:
        if starred:
            if not hasattr(value, "__len__"):
                value = list(itertools.islice(value, MAX_ITEMS + 1))
            total += len(value)
        else:
            total += 1
        _check_items(total, "* in a display")
        values.append((starred, value))
    result = []
    for starred, value in values:
        if starred:
            result.extend(value)
        else:
            result.append(value)
    if kind == "set":
        _check_walk(list(itertools.compress(result, map(_IS_TUPLE, map(type, result)))), "a set member")
        return set(result)
    return tuple(result) if kind == "tuple" else result


def _compared(value):
    """An operand of ``==``, ``<``, ``in``...: comparing walks it (a list shared by many slots included)."""
    _check_walk(value, "a comparison")
    return value


def _hashed_value(value):
    """A set member or dict key: hashing a tuple walks it (tuples do not keep their hash)."""
    if type(value) is tuple:
        _check_walk(value, "a set or dict key")
    return value


def _contains(value):
    """The right side of ``in``: a dict or set is looked up by hash, not walked."""
    if not isinstance(value, (dict, set, frozenset)):
        _check_walk(value, "in")
    return value


def _width_checked(method, name: str, position: int):
    """str.ljust(width), zfill(width), center(width), rjust(width), expandtabs(tabsize)."""

    def checked(*args, **kwargs):
        width = args[position] if len(args) > position else kwargs.get("width", kwargs.get("tabsize", 0))
        if _int(width):
            size = width
            if name == "expandtabs":
                size = width * max(
                    1, method.__self__.count("\t" if isinstance(method.__self__, str) else b"\t")
                )
                size += len(method.__self__)
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


def _join_checked(method):
    """``sep.join(parts)``: the parts' lengths and the separators added up before the join."""

    def checked(iterable):
        parts = (
            iterable
            if isinstance(iterable, (list, tuple))
            else list(itertools.islice(iterable, MAX_ITEMS + 1))
        )
        _check_items(len(parts), "join()")
        try:
            total = len(method.__self__) * max(len(parts) - 1, 0) + sum(map(len, parts))
        except TypeError:  # a part that is no text: join's own error
            return method(parts)
        _check_items(total, "join()")
        return method(parts)

    return checked


_ESCAPING = re.compile(r"escape|xmlcharref|backslash|namereplace")


_ONE_BYTE_FOR_ASCII = {"utf8", "u8", "utf", "ascii", "usascii", "latin1", "latin", "iso88591", "l1", "cp1252"}


def _encode_checked(method):
    """``text.encode()``: at most 4 bytes a character (10 for escaping codecs or error handlers), one for
    ASCII text in UTF-8, ASCII or Latin-1."""

    def checked(*args, **kwargs):
        s = method.__self__
        encoding = args[0] if args else kwargs.get("encoding", "utf-8")
        errors = args[1] if len(args) > 1 else kwargs.get("errors", "strict")
        name = str(encoding).lower().replace("-", "").replace("_", "")
        if _ESCAPING.search(f"{name} {errors}".lower()):
            factor = 10
        elif s.isascii() and name in _ONE_BYTE_FOR_ASCII:
            factor = 1
        else:
            factor = 4
        _check_items(len(s) * factor, "encode()")
        return method(*args, **kwargs)

    return checked


def _hex_checked(method):
    def checked(*args, **kwargs):
        _check_items(len(method.__self__) * (3 if args or kwargs else 2), "hex()")
        return method(*args, **kwargs)

    return checked


def _translate_checked(method):
    """``text.translate(table)``: each character may become the longest text of the table."""

    def checked(table):
        values = (
            table.values() if isinstance(table, dict) else table if isinstance(table, (list, tuple)) else ()
        )
        longest = max((len(v) for v in values if isinstance(v, str)), default=1)
        _check_items(len(method.__self__) * max(longest, 1), "translate()")
        return method(table)

    return checked


def _to_bytes_checked(method):
    def checked(*args, **kwargs):
        length = args[0] if args else kwargs.get("length", 1)
        if _int(length):
            _check_items(length, "to_bytes()")
        return method(*args, **kwargs)

    return checked


def _extend_checked(method):
    def checked(items):
        if hasattr(items, "__len__"):
            _check_items(len(method.__self__) + len(items), "extend()")
        return method(items)

    return checked


def _walk_checked(method, name: str):
    """list.sort(), count(), index(), remove(): they compare the items (and the argument) in C."""

    def checked(*args, **kwargs):
        items = method.__self__
        if name == "sort":
            if args or set(kwargs) - {"key", "reverse"}:
                return method(*args, **kwargs)  # sort's own TypeError
            items[:] = _sort(items, kwargs.get("key"), bool(kwargs.get("reverse", False)), "sort()")
            return None
        _check_walk(items, f"{name}()")
        if args:
            _check_walk(args[0], f"{name}()")
        return method(*args, **kwargs)

    return checked


_TEXT_METHODS = {
    **dict.fromkeys(_WIDTH_METHODS, None), "replace": _replace_checked, "join": _join_checked,
    "encode": _encode_checked, "hex": _hex_checked, "translate": _translate_checked,
}  # fmt: skip
_LIST_METHODS = {"extend": _extend_checked, **dict.fromkeys(("sort", "count", "index", "remove"), None)}


def _sized_method(ob, name, value):
    """The bound methods that can build a huge value from small arguments, or walk a shared structure in
    C, checked before they run."""
    if isinstance(ob, (str, bytes)):
        if name in _WIDTH_METHODS:
            return _width_checked(value, name, _WIDTH_METHODS[name])
        if name in _TEXT_METHODS and not (name == "encode" and isinstance(ob, bytes)):
            return _TEXT_METHODS[name](value)
    elif isinstance(ob, (list, tuple)) and name in _LIST_METHODS:
        if name == "extend":
            return _extend_checked(value)
        return _walk_checked(value, name)
    elif isinstance(ob, int) and name == "to_bytes":
        return _to_bytes_checked(value)
    return value


_CHECKED_CLASSES = (str, bytes, list, tuple, int)


def _class_method(cls, name, value):
    """``str.ljust(s, n)``, ``str.join(sep, parts)``, ``list.extend(l, m)``, ``int.to_bytes(1, n)``: a method
    reached through its class is checked like the bound one."""
    if not (isinstance(cls, type) and issubclass(cls, _CHECKED_CLASSES)):
        return value
    if name not in _TEXT_METHODS and name not in _LIST_METHODS and name != "to_bytes":
        return value

    def checked(self, *args, **kwargs):
        if isinstance(self, cls):
            return _sized_method(self, name, getattr(self, name))(*args, **kwargs)
        return value(self, *args, **kwargs)  # the method's own TypeError

    return checked


def _keys(items: list, key, what: str) -> list:
    """The sort keys of `items` (they are what gets compared), checked like the items would be."""
    keys = list(map(key, items))
    _check_walk(keys, what)
    return keys


def _sort(items: list, key, reverse: bool, what: str) -> list:
    """`items` sorted (stable, as list.sort): by the items themselves, or by their keys, checked first."""
    if key is None:
        _check_walk(items, what)
        return sorted(items, reverse=reverse)
    keys = _keys(items, key, what)
    return list(map(items.__getitem__, sorted(range(len(items)), key=keys.__getitem__, reverse=reverse)))


def _sorted(iterable, /, *, key=None, reverse=False):
    return _sort(list(iterable), key, reverse, "sorted()")


def _walked(what: str):
    def check(value):  # (one call per item: the common case, not a container, costs one type test)
        if _IS_CONTAINER(type(value)):
            _check_walk(value, what)
        return value

    return check


def _min_max(builtin):
    """min()/max() compare each item (or key) with the best so far, one at a time: each is checked as it
    comes (streaming, as the builtins do), a list or tuple as a whole at once."""
    what = f"{builtin.__name__}()"

    def checked(*args, key=None, **kwargs):
        if key is not None:

            def checked_key(item):
                value = key(item)
                if _IS_CONTAINER(type(value)):
                    _check_walk(value, what)
                return value

            return builtin(*args, key=checked_key, **kwargs)
        if len(args) != 1:
            for arg in args:
                _check_walk(arg, what)
            return builtin(*args, **kwargs)
        items = args[0]
        if isinstance(items, _CONTAINERS):
            _check_walk(items, what)
        elif not isinstance(items, range):
            items = map(_walked(what), items)
        return builtin(items, **kwargs)

    checked.__name__ = builtin.__name__
    return checked


def _repr(obj, /):
    _check_walk(obj, "repr()")
    return repr(obj)


def _ascii(obj, /):
    _check_walk(obj, "ascii()")
    return ascii(obj)


def _format(value, spec="", /):
    _check_walk(value, "format()")
    return format(value, _format_spec(spec))


def _hash(obj, /):
    _check_walk(obj, "hash()")
    return hash(obj)


class _CheckedClass:
    """A builtin class whose calls are checked first (``str(x)`` walks x), while ``isinstance(v, str)``,
    ``str.upper`` and ``map(str, ...)`` work as with the class itself."""

    __slots__ = ("cls", "check")

    def __init__(self, cls: type, check):
        self.cls, self.check = cls, check

    def __call__(self, *args, **kwargs):
        if args:
            self.check(args[0], f"{self.cls.__name__}()")
        return self.cls(*args, **kwargs)

    def __instancecheck__(self, obj):
        return isinstance(obj, self.cls)

    def __subclasscheck__(self, cls):
        return issubclass(cls, self.cls)

    def __repr__(self):
        return repr(self.cls)


class _PrintCollector(PrintCollector):
    """print() output is collected (and dropped); printing walks the values like str() does."""

    def _call_print(self, *objects, **kwargs):
        for obj in objects:
            _check_walk(obj, "print()")
        return super()._call_print(*objects, **kwargs)

    def __call__(self):  # `printed`
        _check_items(sum(map(len, self.txt)), "printed")
        return super().__call__()


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
    1000 times): refused beyond MAX_DATA_ITEMS before the engine spends minutes serialising it."""
    if virtual_size(data, MAX_DATA_ITEMS) > MAX_DATA_ITEMS:
        raise _too_large(f"{what} hold more than {MAX_DATA_ITEMS:,} items or characters")


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
    len=len, any=any, all=all, enumerate=enumerate, zip=zip,
    map=map, filter=filter, abs=abs, round=round, list=list,
    int=int, float=float, bool=bool, isinstance=isinstance, range=_limited_range, getattr=_guarded_getattr,
    pow=_pow, sum=_sum,
    # Walking a shared structure in C (str(), sorted(), ...) holds the GIL and no time limit stops it.
    str=_CheckedClass(str, _check_walk), set=_CheckedClass(set, _check_walk),
    dict=_CheckedClass(dict, _check_walk), tuple=_CheckedClass(tuple, _check_walk), repr=_repr, ascii=_ascii, format=_format, sorted=_sorted,
    min=_min_max(min), max=_min_max(max), hash=_hash,
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
    "_print_": _PrintCollector,  # print() output is collected and dropped instead of failing
    # Size guards (see the module docstring): the policy rewrites these operators into calls of them.
    "_pow_": _pow,
    "_mul_": _mul,
    "_lshift_": _lshift,
    "_add_": _add,
    "_mod_": _mod,
    "_fvalue_": _fvalue,
    "_fjoin_": _fjoin,
    "_star_display_": _star_display,
    "_compared_": _compared,
    "_contains_": _contains,
    "_hashed_": _hashed_value,
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


# --- JUEL values outside conditions -------------------------------------------------------------------------

_VALUES = SandboxedEnvironment()  # (stateless between calls: each evaluation gets its own globals)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _translated(expression: str) -> str:
    return translate_condition(expression)


def juel_value(expression: str, data: dict) -> object:
    """The value of one Camunda ``${…}`` expression that is not a condition (``camunda:assignee``,
    ``candidateUsers``, ``candidateGroups``), against the variables ``data``: translated and evaluated
    exactly as a gateway condition is, so ``${a.b}``, ``${a[0]}`` and ``${a['b']}`` go through ``juel_get``
    (a key a map lacks, a property of null, an index out of range: null) and an undefined variable is an
    error. Raises ``NameError`` (the variable is not set; ``.name`` says which), ``JuelError`` (JUEL would
    not convert a value), ``TranslationError`` (no expression Delaktig can run), ``PermissionError`` or
    ``TimeoutError`` (the sandbox)."""
    return _VALUES.evaluate(_translated(expression), dict(data))
