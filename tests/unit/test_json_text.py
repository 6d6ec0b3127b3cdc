"""Request and response bodies: the fast JSON reader and writer give exactly what json and Powertools give."""

from __future__ import annotations

import json
import math
from functools import partial
from typing import Any

import pytest
from aws_lambda_powertools.shared.json_encoder import Encoder
from hypothesis import given, settings
from hypothesis import strategies as st

from churn_api.gateway import parse_json, write_json

POWERTOOLS_JSON = partial(json.dumps, separators=(",", ":"), cls=Encoder)  # Powertools' default serializer
LONE_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
strings = st.one_of(st.text(), st.text(LONE_SURROGATES | st.characters(), max_size=4))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**62, max_value=2**70) | st.integers(min_value=-(2**70), max_value=-(2**62)),
    st.floats(),  # NaN and the infinities included: json.dumps writes them, json.loads reads them
    strings,
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=20,
)
# Texts json.loads may or may not read: spellings the JSON grammar leaves out, limits, encodings.
EDGE_TEXTS = [
    "", " ", "{}", "[]", "null", '"text"', "1", "-0", "-0.0", "01", "1.", ".5", "+1", "1e", "1E5", "0x1", "1e-7",
    "1e400", "-1e400", "1.7976931348623157e308", "1.7976931348623159e308", "4.9e-324", "2.4e-324",
    "NaN", "Infinity", "-Infinity", "nan", "TRUE", "{'a':1}", '{"a":1,}', "[1,2,]", '{"a":1} x', '{"a":1}\x00',
    "\ufeff{}", "\x0b{}", "\x0c{}", "\u00a0{}", " \t\n\r{}\r\n", '{"a":1,"a":2}', '{"a":1,"b":2,"a":3}',
    '"\x01"', '"\t"', '"\x7f"', '"\\u0000"', '"\\/"', '"\\x"', '"\\ud800"', '"\\udc00\\ud800"', '"\\ud83d\\ude00"',
    '"\ud800"', '"é"', '{"\\u00e9":"é"}', "9" * 19, "9" * 30, "-" + "9" * 30, "9" * 4300, "9" * 4301,
    "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
    "123456789012345678901234567890.5", "[" * 199 + "]" * 199, "[" * 201 + "]" * 201, "[" * 5000 + "]" * 5000,
    '{"a":' * 300 + "1" + "}" * 300, "[" * 100_000,
]  # fmt: skip


def outcome(parse: Any, text: str) -> tuple[Any, ...]:
    """Return what parsing gives: the value spelled out by repr (types, signs, key order), or the error raised."""
    try:
        return ("value", repr(parse(text)))
    except (ValueError, RecursionError) as error:
        return ("error", type(error), str(error))


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=range(len(EDGE_TEXTS)))
def test_parse_json_reads_every_edge_text_as_json_loads_does(text: str) -> None:
    # GIVEN a text at an edge of the JSON grammar or of a parser's limits
    # WHEN the fast reader and json.loads read it
    # THEN both give the same value, or the same error with the same words
    assert outcome(parse_json, text) == outcome(json.loads, text)


@settings(max_examples=400)
@given(st.tuples(documents, st.booleans()))
def test_parse_json_reads_written_documents_as_json_loads_does(drawn: tuple[Any, bool]) -> None:
    # GIVEN any document json.dumps writes (big integers, NaN, lone surrogates), escaped or not
    document, ascii_only = drawn
    text = json.dumps(document, ensure_ascii=ascii_only)
    # WHEN both read it THEN they agree
    assert outcome(parse_json, text) == outcome(json.loads, text)


@settings(max_examples=400)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "é"]), scalars), max_size=5))
def test_parse_json_keeps_json_loads_choice_among_repeated_keys(pairs: list[tuple[str, Any]]) -> None:
    # GIVEN an object that repeats keys
    text = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}"
    # WHEN both read it THEN the same value is kept for each key, at the same place
    assert outcome(parse_json, text) == outcome(json.loads, text)


@settings(max_examples=400)
@given(st.tuples(documents, st.integers(min_value=0), st.text(min_size=1, max_size=3)) | st.text())
def test_parse_json_reads_broken_texts_as_json_loads_does(drawn: Any) -> None:
    # GIVEN a document's text with a few characters slipped in somewhere, or any text at all
    if isinstance(drawn, tuple):
        document, at, inserted = drawn
        text = json.dumps(document)
        at %= len(text) + 1
        text = text[:at] + inserted + text[at:]
    else:
        text = drawn
    # WHEN both read it THEN they agree, errors included
    assert outcome(parse_json, text) == outcome(json.loads, text)


def same_json_values(text: str, expected: str) -> bool:
    """Tell whether two JSON texts hold the same values, types and order included (NaN equal to NaN)."""
    return repr(json.loads(text)) == repr(json.loads(expected))


@settings(max_examples=400)
@given(documents)
def test_write_json_writes_the_values_powertools_writes(document: Any) -> None:
    # GIVEN any document a route could answer
    # WHEN it is written by the fast writer and by Powertools' serializer
    # THEN both texts hold the same values
    assert same_json_values(write_json(document), POWERTOOLS_JSON(document))


def test_write_json_hands_what_it_cannot_write_to_powertools() -> None:
    # GIVEN values pydantic-core's writer refuses or spells its own way
    # WHEN they are written THEN the text is Powertools' own, or its error is raised
    unusual = {1: math.inf, "b": [-math.inf, math.nan]}
    assert same_json_values(write_json(unusual), POWERTOOLS_JSON(unusual))
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json({"x": object()})
