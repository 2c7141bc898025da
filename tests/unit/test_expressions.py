"""JUEL/ISO-8601 translation, and the SpiffWorkflow 3.2 behaviour that makes it necessary (ENGINE-NOTES)."""

from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.compile import _conditions_cover
from engine.bpmn.expressions import (
    JuelError,
    TranslationError,
    parse_iso_duration,
    translate_condition,
    translate_timer,
    without_condition_check,
)
from engine.clock import STOCKHOLM
from engine.sandbox import SandboxedEnvironment, make_script_engine
from engine.workflow import SPIFF_LOCALTZ, SPIFF_TIMEDELTA_FROM_START  # importing it applies the patches


def evaluate(code: str, data: dict):
    """Through the real script sandbox, which provides the juel_* functions the translation calls."""
    return SandboxedEnvironment().evaluate(code, dict(data))


# ---- conditions: translation and truth values ---------------------------------------------------------

TRUTH_CASES = [
    # (JUEL, data, truth value JUEL gives)
    ("${a && b}", {"a": True, "b": True}, True),
    ("${a && b}", {"a": True, "b": False}, False),
    ("${a || b}", {"a": False, "b": True}, True),
    ("${a and b or c}", {"a": False, "b": True, "c": True}, True),
    ("${a || b && c}", {"a": True, "b": False, "c": False}, True),  # && binds tighter than ||
    ("${(a || b) && c}", {"a": True, "b": False, "c": False}, False),
    ("${!a}", {"a": False}, True),
    ("${not a && b}", {"a": False, "b": True}, True),  # ! binds tighter than &&
    ("${!(a && b)}", {"a": True, "b": True}, False),
    ("${x == 'a && b'}", {"x": "a && b"}, True),
    ('${x == "it\'s || !fun"}', {"x": "it's || !fun"}, True),
    ("${x == 'say \\'hi\\''}", {"x": "say 'hi'"}, True),
    ("${x != 'ja'}", {"x": "nej"}, True),
    (
        "${fragan_paverkbar == true && beslutsfattare_paverkbara == true}",
        {"fragan_paverkbar": True, "beslutsfattare_paverkbara": False},
        False,
    ),
    ("${n > 5}", {"n": 7}, True),
    ("${n gt 5 and n le 7}", {"n": 7}, True),
    ("${n lt 5 or n ge 10}", {"n": 7}, False),
    ("${n eq 3 || n ne 3}", {"n": 3}, True),
    ("${n >= 2.5}", {"n": 2}, False),
    ("${n * 2 + 1 == 7}", {"n": 3}, True),
    ("${n / 2 == 1.5}", {"n": 3}, True),  # JUEL `/` is floating point
    ("${-n < 0}", {"n": 3}, True),
    ("${n == 007}", {"n": 7}, True),
    ("${x == null}", {"x": None}, True),
    ("${null != x}", {"x": 0}, True),
    ("${empty x}", {"x": ""}, True),
    ("${empty x}", {"x": []}, True),
    ("${empty x}", {"x": None}, True),
    ("${empty x}", {"x": "text"}, False),
    ("${empty x}", {"x": 0}, False),  # JUEL: 0 is not empty (why we do not emit `not x`)
    ("${empty x}", {"x": False}, False),
    ("${not empty x}", {"x": {}}, False),
    ("${beslut.typ == 'avslag'}", {"beslut": {"typ": "avslag"}}, True),
    ("${a.b.c}", {"a": {"b": {"c": True}}}, True),
    ("${lista[0] == 'x'}", {"lista": ["x"]}, True),
    ("${a ? b : c}", {"a": False, "b": True, "c": False}, False),
    ("#{a && b}", {"a": True, "b": True}, True),
    ("  ${ a }  ", {"a": True}, True),
    # An ordering with null is false in JUEL (an optional number left empty): Python would raise.
    ("${belopp > 10000}", {"belopp": None}, False),
    ("${belopp <= 10000}", {"belopp": None}, False),
    ("${!(belopp > 10000)}", {"belopp": None}, True),
    ("${5 < x}", {"x": None}, False),
    ("${a.b >= c}", {"a": {"b": 3}, "c": None}, False),
    ("${x > 5 && y == 'ja'}", {"x": None, "y": "ja"}, False),
    ("${(n < 3) == true}", {"n": 1}, True),
]


@pytest.mark.parametrize(("juel", "data", "expected"), TRUTH_CASES)
def test_translated_condition_has_juel_truth_value(juel, data, expected):
    assert bool(evaluate(translate_condition(juel), data)) is expected


@pytest.mark.parametrize(
    ("juel", "python"),
    [
        ("${a && b}", "(juel_bool(a) and juel_bool(b))"),
        ("${x == 'a && b' || !y}", "(juel_eq(x, 'a && b') or (not juel_bool(y)))"),
        ("${true}", "True"),
        ("${false || null == x}", "(False or (x is None))"),
        ("${a.b == 1}", "juel_eq(juel_get(a, 'b'), 1)"),
        ("${1 < 2 < 3}", "juel_lt(juel_lt(1, 2), 3)"),  # left-associative, not a Python comparison chain
        (
            "${a > 1 && !(b <= 2)}",
            "(juel_gt(a, 1) and (not (juel_le(b, 2))))",
        ),  # no juel_bool on a comparison
        ("${n * 2 + -1}", "juel_add(juel_mul(n, 2), (-1))"),
        ("${-n}", "juel_neg(n)"),
        ("${a ? 1 : 2}", "(1 if juel_bool(a) else 2)"),
        ("${empty x}", "(x in (None, '', [], {}))"),
        ("${2.50}", "2.5"),
    ],
)
def test_translation_text(juel, python):
    assert translate_condition(juel) == python


@pytest.mark.parametrize(
    ("juel", "python"),
    [
        ("${beslut}", "juel_condition(beslut, 'the condition of sequence flow F1')"),
        ("${a.b}", "juel_condition(juel_get(a, 'b'), 'the condition of sequence flow F1')"),
        ("${a ? b : c}", "juel_condition((b if juel_bool(a) else c), 'the condition of sequence flow F1')"),
        # Surely true or false: no check needed.
        ("${a == 1}", "juel_eq(a, 1)"),
        ("${a && b}", "(juel_bool(a) and juel_bool(b))"),
        ("${empty a}", "(a in (None, '', [], {}))"),
        ("${a ? true : false}", "(True if juel_bool(a) else False)"),
    ],
)
def test_a_condition_is_checked_for_a_boolean_unless_it_surely_is_one(juel, python):
    assert translate_condition(juel, "the condition of sequence flow F1") == python
    assert without_condition_check(python) == python.removeprefix("juel_condition(").removesuffix(
        ", 'the condition of sequence flow F1')"
    )


def test_left_associative_comparison_is_not_a_python_chain():
    # JUEL: (3 > 2) > 1 -> true > 1 -> a Boolean is coerced to a number: ELException. A Python chain would
    # quietly say True.
    with pytest.raises(JuelError, match="true is not a number"):
        evaluate(translate_condition("${3 > 2 > 1}"), {})


@pytest.mark.parametrize("python", ["a and b", "x == 'yes'", "len(x) > 0", ""])
def test_python_condition_without_dollar_brace_is_unchanged(python):
    assert translate_condition(python) == python


@pytest.mark.parametrize(
    ("juel", "reason"),
    [
        ("${execution.getVariable('x')}", "method calls are not supported"),
        ("${bean.method()}", "method calls are not supported"),
        ("${len(x) > 0}", "function calls are not supported"),
        ("${fn:contains(x, 'a')}", "function calls are not supported"),
        ("${class == 1}", "not usable in Python"),
        ("${from}", "not usable in Python"),
        ("${None}", "not usable in Python"),
        ("${x² > 1}", "not usable in Python"),
        ("${_secret}", 'starts with "_"'),
        ("${'a' + b}", "'a' is not a number, and JUEL's '+' only computes"),
        ('${a + "b"}', "'b' is not a number"),
        ("${'Hej ' * 2}", "JUEL's '*'"),
        ("${-'x'}", "JUEL's '-'"),
        ("${juel_eq == 1}", "reserved for Delaktig's JUEL operators"),
        ("${a % 2 == 0}", "'%' and 'mod'"),
        ("${a mod 2}", "'%' and 'mod'"),
        ("${a instanceof b}", "'instanceof'"),
        ("${a = 1}", "unsupported character '='"),
        ("${a; b}", "unsupported character ';'"),
        ("${x == 'a\\n'}", "unsupported escape"),
        ("${a} && ${b}", "single ${...}"),
        ("x == ${a}", "single ${...}"),
        ("${}", "expected a value"),
        ("${a &&}", "expected a value"),
        ("${(a}", "expected ')'"),
        ("${a b}", "unexpected text"),
        ("${a ? b}", "expected ':'"),
        ("${x == 'open}", "unsupported character"),
        ("${a.}", "property name"),
    ],
)
def test_untranslatable_conditions_are_refused(juel, reason):
    with pytest.raises(TranslationError, match=None) as err:
        translate_condition(juel)
    assert reason in str(err.value)
    assert isinstance(err.value, ValueError)


def test_keyword_is_fine_as_a_property_name():
    assert evaluate(translate_condition("${a.class == 'x'}"), {"a": {"class": "x"}}) is True


def test_translation_output_is_a_literal_string_not_injected_code():
    code = translate_condition("${x == '\\'); __import__(\\'os'}")
    assert evaluate(code, {"x": "'); __import__('os"}) is True


# ---- JUEL's type coercion (EL 2.2, 1.8 and 1.18), evaluated through the real sandbox ----------------------

JUEL_VALUES = [
    # (JUEL, data, the value JUEL gives)
    # `==`/`!=`: a number on either side makes both numbers; 1 == 1.0
    ("${antal == '1'}", {"antal": 1}, True),
    ("${antal != '1'}", {"antal": 1}, False),
    ("${'2.5' == x}", {"x": 2.5}, True),
    ("${x == ''}", {"x": 0}, True),  # EL coerces "" to 0
    ("${x == 1}", {"x": 1.0}, True),
    ("${x == 2}", {"x": "02"}, True),
    # a Boolean on either side makes both Booleans: Boolean.valueOf, "true" in any case
    ("${beslut == 'true'}", {"beslut": True}, True),
    ("${beslut == 'TRUE'}", {"beslut": True}, True),
    ("${beslut == 'ja'}", {"beslut": True}, False),
    ("${beslut == 'ja'}", {"beslut": False}, True),  # 'ja' is false
    ("${beslut == true}", {"beslut": "True"}, True),
    ("${x == false}", {"x": ""}, True),
    # null equals only null; texts compare as texts; maps and lists by value
    ("${a == b}", {"a": None, "b": None}, True),
    ("${a == b}", {"a": None, "b": 0}, False),
    ("${a != b}", {"a": "", "b": None}, True),
    ("${a == 'x'}", {"a": "x"}, True),
    ("${a == b}", {"a": {"k": 1}, "b": {"k": 1}}, True),
    ("${a == 'x'}", {"a": {"k": 1}}, False),
    # orderings: the same value (both null too) makes <= and >= true; null otherwise false
    ("${a >= b}", {"a": None, "b": None}, True),
    ("${a <= b}", {"a": None, "b": None}, True),
    ("${a > b}", {"a": None, "b": None}, False),
    ("${a < b}", {"a": None, "b": None}, False),
    ("${a >= b}", {"a": None, "b": 1}, False),
    ("${a < 10}", {"a": "9"}, True),  # the text becomes a number
    ("${a < b}", {"a": "9", "b": "10"}, False),  # two texts compare lexically
    ("${a > 'b'}", {"a": True}, True),  # "true" > "b"
    ("${a > b}", {"a": True, "b": False}, True),
    ("${a < 2}", {"a": 1.5}, True),
    # arithmetic: null is 0, a text a number, `/` always Double
    ("${belopp + avgift}", {"belopp": 90, "avgift": None}, 90),
    ("${a + b}", {"a": None, "b": None}, 0),
    ("${a - b}", {"a": None, "b": 2}, -2),
    ("${a * b}", {"a": "3", "b": 4}, 12),
    ("${'5' + 1}", {}, 6),
    ("${a + 1}", {"a": "1.5"}, 2.5),
    ("${4 / 2}", {}, 2.0),
    ("${a div b}", {"a": "9", "b": 2}, 4.5),
    ("${1 / 0}", {}, float("inf")),
    ("${-1 / 0}", {}, float("-inf")),
    ("${a / b}", {"a": None, "b": None}, 0),
    ("${-a}", {"a": None}, 0),
    ("${-a}", {"a": "5"}, -5),
    ("${-a}", {"a": 2.5}, -2.5),
    # &&, ||, !, ?: coerce to Boolean: null and "" false, a text true only if "true"
    ("${x && y}", {"x": "true", "y": True}, True),
    ("${x && y}", {"x": "false", "y": True}, False),
    ("${x || y}", {"x": None, "y": "TRUE"}, True),
    ("${!x}", {"x": "false"}, True),
    ("${!x}", {"x": None}, True),
    ("${x ? 'ja' : 'nej'}", {"x": "false"}, "nej"),
    ("${x ? 'ja' : 'nej'}", {"x": ""}, "nej"),
    # properties and indexes (EL 1.6): of null, a missing key, an index out of range: null (probe 9)
    ("${a[1] == null}", {"a": [1]}, True),
    ("${a[-1] == null}", {"a": [1]}, True),
    ("${a['0'] == 1}", {"a": [1]}, True),  # the index is converted to a number
    ("${m.b == null}", {"m": {"a": 1}}, True),
    ("${x.y.z == null}", {"x": None}, True),
    ("${kontakt.ort}", {"kontakt": {"ort": "Lund"}}, "Lund"),
    # two Date variables (ISO texts) compare as instants, as Camunda compares two Dates (probe 9)
    ("${mote >= frist}", {"mote": "2026-05-01", "frist": "2026-05-01T00:00:00.000+02:00"}, True),
    ("${mote == frist}", {"mote": "2026-05-01", "frist": "2026-04-30T22:00:00Z"}, True),
    # the autumn hour: 02:30+02:00 is before 02:15+01:00, whatever their letters say
    ("${a < b}", {"a": "2026-10-25T02:30:00+02:00", "b": "2026-10-25T02:15:00+01:00"}, True),
    ("${a < b}", {"a": "2026-05-01", "b": "2026-05-02"}, True),
    ("${a == b}", {"a": "2026-05-01", "b": "ett datum"}, False),  # only when both are dates
]


@pytest.mark.parametrize(("juel", "data", "expected"), JUEL_VALUES)
def test_juel_coercion(juel, data, expected):
    value = evaluate(translate_condition(juel), data)
    assert value == expected and type(value) is type(expected)


def test_zero_by_zero_is_nan():
    value = evaluate(translate_condition("${a / b}"), {"a": 0, "b": 0})
    assert value != value  # NaN; and a gateway condition comparing it is false, as in Java
    assert evaluate(translate_condition("${a / b > 1}"), {"a": 0, "b": 0}) is False


@pytest.mark.parametrize(
    ("juel", "data", "message"),
    [
        ("${antal == 'tre'}", {"antal": 1}, "the text 'tre' is not a number"),
        ("${antal == '1.5'}", {"antal": 1}, "is not a number"),  # Long.valueOf("1.5") fails
        ("${x == 1}", {"x": True}, "true is not a number"),
        ("${x == true}", {"x": 1}, "true is not a number"),  # numbers win: true is made a Long
        ("${x == true}", {"x": {}}, "a dict is not a Boolean"),
        ("${x < 5}", {"x": "fem"}, "is not a number"),
        ("${x < y}", {"x": {"a": 1}, "y": {"a": 2}}, "cannot be ordered"),
        ("${x < 'a'}", {"x": [1]}, "cannot be compared with a text"),
        ("${x + 1}", {"x": "Hej"}, "the text 'Hej' is not a number"),
        ("${x + 1}", {"x": True}, "true is not a number"),
        ("${-x}", {"x": False}, "cannot be negated"),
        ("${x && y}", {"x": 1, "y": True}, "the number 1 is not a Boolean"),
        ("${!x}", {"x": 0}, "is not a Boolean"),
        ("${s.length > 1}", {"s": "abc"}, "has no property 'length'"),
        ("${a[x] == 1}", {"a": [1], "x": [0]}, "cannot index a list"),
        ("${x ? 1 : 2}", {"x": [True]}, "a list is not a Boolean"),
    ],
)
def test_a_value_juel_does_not_coerce_is_an_error_not_a_silent_false(juel, data, message):
    with pytest.raises(JuelError, match=message):
        evaluate(translate_condition(juel), data)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("false", "the text 'false'"), (None, "null"), (1, "the number 1"), ({}, "a dict")],
)
def test_a_condition_that_returns_no_boolean_fails_naming_its_flow(value, shown):
    code = translate_condition("${beslut}", "the condition of sequence flow Fja")
    with pytest.raises(JuelError) as err:
        evaluate(code, {"beslut": value})
    assert str(err.value) == f"the condition of sequence flow Fja returned {shown}, not a Boolean"
    assert evaluate(code, {"beslut": False}) is False


def test_task_data_cannot_replace_the_juel_operators():
    assert evaluate(translate_condition("${a == '1'}"), {"a": 1, "juel_eq": None}) is True


def test_the_gateway_coverage_check_evaluates_translated_conditions():
    """It enumerates each variable over the literals it is compared with, null, booleans, 0 and "something
    else" (an object), and needs the juel_* functions and not the flow's name among them."""

    def covers(*juel: str) -> bool:
        return _conditions_cover(
            [translate_condition(j, f"the condition of sequence flow F{i}") for i, j in enumerate(juel)], {}
        )

    assert covers("${x == 'a'}", "${x != 'a'}")
    assert covers("${n > 5}", "${n <= 5}", "${n == null}")
    assert covers("${beslut}", "${!beslut}")  # null fails the first: an error at run time, not a stop
    assert not covers("${x == 'a'}", "${x == 'b'}")
    assert not covers("${n > 5}", "${n < 5}")
    assert not covers("${n > 5}", "${n <= 5}")  # null takes neither
    # Six variables at four values each: 4096 combinations, the limit. Were the text naming the flow in
    # juel_condition(..., 'the condition of sequence flow F0') taken for one more value: 15625, "not covered".
    assert covers("${a && b && c && d && e ? f : false}", "${!(a && b && c && d && e && f)}")


# ---- timers: translation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "python"),
    [
        ("timeDuration", "P14D", "'P14D'"),
        ("timeDuration", "PT1H30M", "'PT1H30M'"),
        ("timeDuration", "P1Y2M", "'P1Y2M'"),
        ("timeDuration", "P2W", "'P2W'"),
        ("timeDuration", "PT0,5S", "'PT0.5S'"),
        ("timeDuration", " p3d ", "'P3D'"),
        ("timeDate", "2026-03-01T09:00:00+01:00", "'2026-03-01T09:00:00+01:00'"),
        ("timeDate", "2026-03-01T09:00:00Z", "'2026-03-01T09:00:00Z'"),
        ("timeDate", "2026-07-01T09:00:00", "'2026-07-01T09:00:00+02:00'"),  # summer time
        ("timeDate", "2026-01-15T09:00:00", "'2026-01-15T09:00:00+01:00'"),  # winter time
        ("timeDate", "2026-03-01", "'2026-03-01T00:00:00+01:00'"),
        ("timeCycle", "R/2026-01-01T00:00:00+01:00/P1D", "'R/2026-01-01T00:00:00+01:00/P1D'"),
        ("timeCycle", "R/2026-07-01T08:00:00/P1D", "'R/2026-07-01T08:00:00+02:00/P1D'"),
        ("timeCycle", "R3/PT1H", "'R3/PT1H'"),
        ("timeCycle", "R/P1D", "'R/P1D'"),
        ("timeCycle", "R2/P1D/2026-02-01T00:00:00", "'R2/P1D/2026-02-01T00:00:00+01:00'"),
        ("timeDate", "${paminnelse}", "paminnelse"),
        ("timeDuration", "${svar.frist}", "juel_get(svar, 'frist')"),
        ("timeDuration", "'P14D'", "'P14D'"),  # SpiffWorkflow-native: already Python
        ("timeDuration", '"PT1H"', '"PT1H"'),
        ("timeDuration", "'P%dD' % dagar", "'P%dD' % dagar"),
        ("timeDate", "data['when']", "data['when']"),
    ],
)
def test_timer_translation(kind, text, python):
    assert translate_timer(kind, text) == python


def test_naive_date_uses_the_offset_valid_on_that_date_in_the_given_zone():
    assert translate_timer("timeDate", "2026-07-01T09:00:00", tz="UTC") == "'2026-07-01T09:00:00+00:00'"
    assert translate_timer("timeDate", "2026-10-25T12:00:00") == "'2026-10-25T12:00:00+01:00'"  # DST ended


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("timeDuration", "P14X", "ISO-8601 duration"),
        ("timeDuration", "14 days", "ISO-8601 duration"),
        ("timeDuration", "PT", "ISO-8601 duration"),
        ("timeDuration", "P", "ISO-8601 duration"),
        ("timeDuration", "P1W2D", "weeks cannot be combined"),
        ("timeDuration", "P-1D", "ISO-8601 duration"),
        ("timeDuration", "2026-03-01", "ISO-8601 duration"),
        ("timeDate", "tomorrow", "write ${tomorrow}"),
        ("timeDate", "2026-13-45", "ISO-8601 date"),
        ("timeDate", "2026-02-30T09:00:00", "ISO-8601 date"),
        ("timeDate", "P14D", "a timeDate needs a date"),
        ("timeDate", "2026", "ISO-8601 date"),
        ("timeCycle", "0 0 9 * * ?", "repeating interval"),
        ("timeCycle", "P1D", "repeating interval"),
        ("timeCycle", "R/2026-01-01/2026-02-01", "repeating interval"),
        ("timeCycle", "R/P1D/P2D", "repeating interval"),
        ("timeCycle", "R/P1X", "ISO-8601 duration"),
        ("timeDuration", "'P14X'", "ISO-8601 duration"),  # quoted literals are validated too
        ("timeDuration", "", "empty"),
        ("timeDuration", "${a && }", "expected a value"),
        ("timeout", "P1D", "unknown timer kind"),
    ],
)
def test_bad_timers_are_refused(kind, text, reason):
    with pytest.raises(TranslationError) as err:
        translate_timer(kind, text)
    assert reason in str(err.value)


def test_parse_iso_duration():
    assert parse_iso_duration("P1Y2M3DT4H5M6.5S") == {
        "years": 1,
        "months": 2,
        "days": 3,
        "hours": 4,
        "minutes": 5,
        "seconds": 6.5,
    }
    assert parse_iso_duration("P2W") == {"weeks": 2}


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("timeDuration", "P14D"),
        ("timeDuration", "P1Y2M"),
        ("timeDuration", "PT1H30M"),
        ("timeDate", "2026-07-01T09:00:00"),
        ("timeDate", "2026-03-01T09:00:00Z"),
        ("timeDate", "2026-03-01"),
        ("timeCycle", "R3/PT1H"),
        ("timeCycle", "R/P1D"),
        ("timeCycle", "R/2026-01-01T00:00:00/P1D"),
        ("timeCycle", "R2/P1D/2026-02-01T00:00:00"),
    ],
)
def test_spiff_parses_every_translated_literal(kind, text):
    value = evaluate(translate_timer(kind, text), {})
    if kind == "timeDuration":
        TimerEventDefinition.parse_iso_duration(value)
    elif kind == "timeDate":
        assert TimerEventDefinition.get_datetime(value).tzinfo is not None
    else:
        TimerEventDefinition.parse_iso_recurring_interval(value)


def test_naive_summer_date_reaches_spiff_as_the_right_instant():
    value = evaluate(translate_timer("timeDate", "2026-07-01T09:00:00"), {})
    assert TimerEventDefinition.get_datetime(value) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


# ---- pinned SpiffWorkflow 3.2 facts ---------------------------------------------------------------------

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="defs" targetNamespace="http://bpmn.io/schema/bpmn"><bpmn:process id="p" isExecutable="true">"""
TAIL = "</bpmn:process></bpmn:definitions>"


def timer_xml(kind: str, text: str) -> str:
    timer = f'<bpmn:timerEventDefinition id="t"><bpmn:{kind}>{text}</bpmn:{kind}></bpmn:timerEventDefinition>'
    return f"""{HEAD}<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
      <bpmn:intermediateCatchEvent id="wait">{timer}</bpmn:intermediateCatchEvent>
      <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/><bpmn:endEvent id="end"/>{TAIL}"""


def boundary_xml(kind: str, text: str) -> str:
    timer = f'<bpmn:timerEventDefinition id="t"><bpmn:{kind}>{text}</bpmn:{kind}></bpmn:timerEventDefinition>'
    return f"""{HEAD}<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task"/>
      <bpmn:userTask id="task" name="Granska"/><bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end"/>
      <bpmn:endEvent id="end"/>
      <bpmn:boundaryEvent id="remind" attachedToRef="task" cancelActivity="false">{timer}</bpmn:boundaryEvent>
      <bpmn:sequenceFlow id="f3" sourceRef="remind" targetRef="end2"/><bpmn:endEvent id="end2"/>{TAIL}"""


def gateway_xml(condition: str) -> str:
    return f"""{HEAD}<bpmn:startEvent id="start"/><bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw"/>
      <bpmn:exclusiveGateway id="gw" default="no"/>
      <bpmn:sequenceFlow id="yes" sourceRef="gw" targetRef="end_yes">
        <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
      </bpmn:sequenceFlow>
      <bpmn:sequenceFlow id="no" sourceRef="gw" targetRef="end_no"/>
      <bpmn:endEvent id="end_yes"/><bpmn:endEvent id="end_no"/>{TAIL}"""


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def start(xml: str, data: dict | None = None) -> BpmnWorkflow:
    parser = CamundaParser()
    parser.add_bpmn_str(xml.encode())  # parsing never evaluates expressions
    workflow = BpmnWorkflow(parser.get_spec("p"), parser.get_subprocess_specs("p"))
    workflow.task_tree.data.update(data or {})
    return workflow


def completed_ids(workflow: BpmnWorkflow) -> set[str]:
    return {t.task_spec.bpmn_id for t in workflow.tasks.values() if t.state == TaskState.COMPLETED}


@pytest.mark.parametrize("diagram", [timer_xml, boundary_xml])
@pytest.mark.parametrize(
    ("kind", "raw", "error_type"),
    [
        ("timeDuration", "P14D", "NameError"),
        ("timeDate", "2099-03-01T09:00:00+01:00", "SyntaxError"),  # a date in the future
        ("timeCycle", "R3/PT1H", "NameError"),
    ],
)
def test_raw_camunda_timer_parses_but_fails_at_run_time(diagram, kind, raw, error_type):
    workflow = start(diagram(kind, raw))  # CamundaParser accepts it
    with pytest.raises(WorkflowTaskException) as err:
        workflow.do_engine_steps()
    assert err.value.error_type == error_type
    assert f"Error evaluating expression '{raw}'" in str(err.value)

    translated = start(diagram(kind, xml_escape(translate_timer(kind, raw))))
    translated.do_engine_steps()
    assert [e.event_type for e in translated.waiting_events()] == [
        {
            "timeDuration": "DurationTimerEventDefinition",
            "timeDate": "TimeDateEventDefinition",
            "timeCycle": "CycleTimerEventDefinition",
        }[kind]
    ]


def test_translated_duration_waits_fourteen_days():
    workflow = start(timer_xml("timeDuration", xml_escape(translate_timer("timeDuration", "P14D"))))
    before = datetime.now(UTC)
    workflow.do_engine_steps()
    due = datetime.fromisoformat(workflow.waiting_events()[0].value)
    assert timedelta(days=14) <= due - before < timedelta(days=14, seconds=5)


def test_raw_juel_condition_parses_but_fails_at_run_time():
    workflow = start(gateway_xml("${a &amp;&amp; b}"), {"a": True, "b": True})
    with pytest.raises(WorkflowTaskException) as err:
        workflow.do_engine_steps()
    assert err.value.error_type == "SyntaxError"


@pytest.mark.parametrize(("a", "b", "end"), [(True, True, "end_yes"), (True, False, "end_no")])
def test_translated_condition_routes_the_gateway(a, b, end):
    condition = xml_escape(translate_condition("${a && b}"))
    workflow = start(gateway_xml(condition), {"a": a, "b": b})
    workflow.script_engine = make_script_engine()  # provides the juel_* functions the translation calls
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert end in completed_ids(workflow)


def test_spiff_turns_p1y_into_a_fixed_number_of_days_from_its_start():
    # SpiffWorkflow alone (its function, as engine.workflow keeps it): P1Y is expanded month by month from
    # the start date into days, 365 or 366 depending on the year; days are 24-hour spans in UTC.
    def year_from(start):
        return SPIFF_TIMEDELTA_FROM_START({"years": 1}, start)

    assert year_from(datetime(2027, 1, 1, tzinfo=UTC)) == timedelta(days=365)
    assert year_from(datetime(2028, 1, 1, tzinfo=UTC)) == timedelta(days=366)
    # P1M from 31 January is 31 days (3 March), not "end of February" as in Java.
    assert SPIFF_TIMEDELTA_FROM_START({"months": 1}, datetime(2026, 1, 31)) == timedelta(31)
    # Delaktig's replacement counts the calendar in Swedish time, as Camunda in a Stockholm JVM: end of
    # February, and a day across the change to summer time is 23 hours.
    jan31 = datetime(2026, 1, 31, 9, tzinfo=STOCKHOLM)
    assert TimerEventDefinition.get_timedelta_from_start({"months": 1}, jan31) == timedelta(28)
    assert TimerEventDefinition.get_timedelta_from_start(
        {"days": 1}, datetime(2026, 3, 28, 9, tzinfo=STOCKHOLM)
    ) == timedelta(hours=23)
    *_, duration = TimerEventDefinition.parse_iso_recurring_interval("R/2028-01-01T00:00:00+01:00/P1Y")
    assert duration == timedelta(days=366)


class _Clock(datetime):
    """Stands in for the timer module's `datetime`; `now` returns the class attribute `at`."""

    at = datetime(2027, 12, 1, tzinfo=UTC)

    @classmethod
    def now(cls, tz=None):
        return cls.at.astimezone(tz)


def test_yearly_cycle_is_frozen_to_seconds_and_drifts_after_a_leap_year():
    text = translate_timer("timeCycle", "R3/2028-01-01T00:00:00/P1Y")
    assert text == "'R3/2028-01-01T00:00:00+01:00/P1Y'"
    workflow = start(timer_xml("timeCycle", text))
    with mock.patch.object(spiff_timer, "datetime", _Clock):
        _Clock.at = datetime(2027, 12, 1, tzinfo=UTC)
        workflow.do_engine_steps()
        waiting = workflow.get_next_task(spec_name="wait")
        value = waiting.internal_data["event_value"]
        assert value["duration"] == 366 * 86400  # frozen: 2028 is a leap year, so every "year" is 366 days
        for now in (datetime(2028, 1, 2, tzinfo=UTC), datetime(2029, 1, 2, tzinfo=UTC)):
            _Clock.at = now
            workflow.refresh_timers()
            workflow.do_engine_steps()
    stockholm = timezone(timedelta(hours=1))
    next_local = datetime.fromisoformat(waiting.internal_data["event_value"]["next"]).astimezone(stockholm)
    # Two cycles fired (1 Jan 2028, 1 Jan 2029); the third is due 2 Jan 2030 instead of 1 Jan 2030.
    assert next_local == datetime(2030, 1, 2, 0, 0, tzinfo=stockholm)
    assert waiting.internal_data["event_value"]["cycles"] == 1


def test_spiff_reads_naive_dates_with_one_offset_frozen_at_import():
    # SpiffWorkflow alone read a naive date-time with the machine's offset, fixed at import (no DST rules);
    # engine.workflow replaces it with Europe/Stockholm, so a ${variable}'s naive value is Swedish time.
    assert isinstance(SPIFF_LOCALTZ, timezone)  # a fixed offset, not a zone with DST rules
    assert spiff_timer.LOCALTZ is STOCKHOLM
    summer = TimerEventDefinition.get_datetime("2026-07-01T09:00:00")
    winter = TimerEventDefinition.get_datetime("2026-01-15T09:00:00")
    assert summer == datetime(2026, 7, 1, 7, tzinfo=UTC)
    assert winter == datetime(2026, 1, 15, 8, tzinfo=UTC)
