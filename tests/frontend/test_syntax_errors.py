"""Syntax errors: every snippet of the `SYNTAX_EXAMPLES` table yields its own entry, and the
lexer-level and bracket errors are located on the offending text."""

from __future__ import annotations

import pytest

from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.frontend.parser import parse_source
from ebmspec.frontend.syntax_errors import SYNTAX_EXAMPLES
from ebmspec.source import Source

CASES = [(case.code, snippet) for case, snippets in SYNTAX_EXAMPLES.items() for snippet in snippets]


def _error(text: str) -> Diagnostic:
    with pytest.raises(UserError) as raised:
        parse_source(Source("t.ebm", text))
    assert len(raised.value.diagnostics) == 1
    return raised.value.diagnostics[0]


def _under_caret(text: str, diagnostic: Diagnostic) -> str:
    return text[diagnostic.span.start : diagnostic.span.end]


@pytest.mark.parametrize(
    ("code", "snippet"), CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)]
)
def test_every_example_snippet_yields_its_entry(code, snippet):
    assert _error(snippet).code == code


def test_every_entry_has_examples_and_a_help_line():
    for case, snippets in SYNTAX_EXAMPLES.items():
        assert snippets, case
        assert case.help and case.message, case


UNCLOSED = "model m\nvariables {\n  x : real[2]\n\nenergy {\n  return sum(x)\n}\n"


def test_unterminated_block_points_at_its_opening_brace():
    diagnostic = _error(UNCLOSED)
    assert diagnostic.code == "E004"
    assert (diagnostic.span.line, diagnostic.span.column) == (2, 11)
    assert _under_caret(UNCLOSED, diagnostic) == "{"
    assert "`variables` block" in diagnostic.message
    assert "line 5" in diagnostic.help


def test_unclosed_block_at_end_of_file_points_at_its_opening_brace():
    text = "model m\nvariables { x : real[2] }\nenergy {\n  return sum(x)\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E004"
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 8)


def test_unclosed_parenthesis_before_a_brace_points_at_the_parenthesis():
    text = "model m\nvariables { x : real[2] }\nenergy {\n  return mlp(x, hidden = [4]\n}\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E004"
    assert _under_caret(text, diagnostic) == "("
    assert (diagnostic.span.line, diagnostic.span.column) == (4, 13)


def test_unmatched_closing_parenthesis():
    text = "model m\nvariables { x : real[2] }\nenergy { return sum(x)) }\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E005"
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 23)


@pytest.mark.parametrize("bad", ["1e-", "3.4.5", "1e", "2.5e+", "12abc", "1..2"])
def test_bad_number_has_the_whole_token_under_the_caret(bad):
    text = f"model m\ntrain {{ ema = {bad}\n  batch = 10 }}\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E003"
    assert _under_caret(text, diagnostic) == bad
    assert f"`{bad}`" in diagnostic.message


def test_unterminated_string():
    text = 'model m "a doc string\nvariables { x : real[2] }\n'
    diagnostic = _error(text)
    assert diagnostic.code == "E002"
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 9)
    assert _under_caret(text, diagnostic) == '"a doc string'


def test_stray_character():
    text = "model m\nenergy { return x @ y }\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E001"
    assert _under_caret(text, diagnostic) == "@"


def test_setting_without_value_points_at_its_equals_sign():
    text = "model m\ntrain {\n  batch =\n  iterations = 10\n}\n"
    diagnostic = _error(text)
    assert diagnostic.code == "E015"
    assert (diagnostic.span.line, diagnostic.span.column) == (3, 9)
    assert "`batch =`" in diagnostic.message
