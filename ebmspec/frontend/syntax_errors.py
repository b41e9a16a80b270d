"""Syntax-error messages, chosen from a table of example bad snippets (Lark's `match_examples`).

In: a Lark `UnexpectedInput` and the source. Out: one `Diagnostic`. The table below is documentation
and test data at once: `tests/frontend/test_syntax_errors.py` asserts that every snippet yields its
own entry. Lexer-level errors (bad numbers, unterminated strings, stray characters), unclosed or
unmatched brackets, and a setting left without a value are recognised before the table is consulted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ebmspec.diagnostics import Diagnostic
from ebmspec.source import Source


@dataclass(frozen=True)
class SyntaxCase:
    code: str
    message: str
    help: str


SYNTAX_EXAMPLES: dict[SyntaxCase, tuple[str, ...]] = {
    SyntaxCase(
        "E010",
        "a spec must start with `model NAME`",
        'begin the file with `model my_model "what it models"`',
    ): (
        "variables { x : real[2] }",
        "energy { return x }",
        "data toy()\nmodel m",
    ),
    SyntaxCase(
        "E011",
        "expected a block (data, variables, energy, sampler, train, evaluate or profile)",
        "top-level items are `data`, `variables {…}`, `energy {…}`, `sampler NAME {…}`, "
        "`train {…}`, `evaluate {…}` and `profile NAME {…}`",
    ): (
        "model m\nvariable { }",
        "model m\nvariables { }\nenergies { return 1 }",
        'model m "doc" "more"',
    ),
    SyntaxCase(
        "E012",
        "expected `:` and a domain after the variable name",
        "declare variables as `name : real[2]`, `name : binary[8]` or `name : categorical(10)`",
    ): (
        "model m\nvariables { x real[2] }",
        "model m\nvariables { x = real[2] }",
    ),
    SyntaxCase(
        "E013",
        "expected a domain: real[...], binary[...] or categorical(K)",
        "write `real[1, 28, 28]`, `binary[8]`, `categorical(10)` or `categorical(2)[3]`",
    ): (
        "model m\nvariables { x : float[2] }",
        "model m\nvariables { x : }",
        "model m\nvariables { x : [2] }",
    ),
    SyntaxCase(
        "E014",
        "expected a shape such as [2] or [1, 28, 28]",
        "shapes are lists of positive integers in square brackets",
    ): (
        "model m\nvariables { x : real[] }",
        "model m\nvariables { x : real[a] }",
        "model m\nvariables { x : real[2,] }",
    ),
    SyntaxCase(
        "E015",
        "expected an expression",
        "an expression is a number, a name, a call such as `mlp(x, hidden = [64])`, a list, "
        "or arithmetic of those",
    ): (
        "model m\nenergy { return }",
        "model m\nenergy { h = }",
        "model m\nenergy { return mlp(x) + }",
        "model m\nenergy { return mlp(x, hidden = ) }",
        "model m\ntrain { batch = }",
        "model m\nprofile p { train.batch = }",
        "model m\nenergy { return mlp(,) }",
    ),
    SyntaxCase(
        "E016",
        "expected a binding `name = expression` or `return expression`",
        "every statement of an energy block binds a name or returns the energy",
    ): (
        "model m\nenergy { h mlp(x) }",
        "model m\nenergy { 3 }",
        "model m\nenergy { return x y }",
    ),
    SyntaxCase(
        "E017",
        "expected `,` or `)` between call arguments",
        "separate arguments with commas: `mlp(x, hidden = [64], act = silu)`",
    ): (
        "model m\nenergy { return mlp(x hidden = [1]) }",
        "model m\nenergy { return mlp(x, hidden = [1] act = silu) }",
    ),
    SyntaxCase(
        "E018",
        "expected `,` or `]` in a list",
        "lists are written `[1, 2, 3]`",
    ): (
        "model m\nenergy { return mlp(x, hidden = [1 2]) }",
        "model m\nvariables { x : real[1 2] }",
    ),
    SyntaxCase(
        "E019",
        "expected a sampler statement: `init VARS ~ dist`, `update VARS with kernel` or "
        "`name = value`",
        "e.g. `update x with langevin(step = 0.01, noise = 0.1)`",
    ): (
        "model m\nsampler s { x with langevin }",
        "model m\nsampler s { run x }",
    ),
    SyntaxCase(
        "E020",
        "expected `with KERNEL` after the updated variables",
        "write `update x with langevin(step = 0.01, noise = 0.1)`",
    ): (
        "model m\nsampler s { update x langevin(step = 1) }",
        "model m\nsampler s { update x, y gwg }",
    ),
    SyntaxCase(
        "E021",
        "expected `~ DISTRIBUTION` after the initialised variables",
        "write `init x ~ uniform_data_range` or `init y ~ uniform`",
    ): (
        "model m\nsampler s { init x uniform }",
        "model m\nsampler s { init x = uniform }",
    ),
    SyntaxCase(
        "E022",
        "expected a setting `name = value`",
        "train, sampler and profile blocks hold settings such as `batch = 100`",
    ): (
        "model m\ntrain { batch 100 }",
        "model m\ntrain { 100 }",
        "model m\nprofile cpu { train.batch 100 }",
        "model m\ntrain { batch: 100 }",
    ),
    SyntaxCase(
        "E023",
        "expected `predict VARS from VARS by METHOD` or a report "
        "(calibration, samples, ood, density)",
        "e.g. `predict y from x by energy, samples(chains = 10, steps = 200)`",
    ): (
        "model m\nevaluate { accuracy y }",
        "model m\nevaluate { predict y by energy }",
        "model m\nevaluate { predict y from x energy }",
    ),
    SyntaxCase(
        "E024",
        "expected a name",
        "names start with a letter or `_` and continue with letters, digits or `_`",
    ): (
        "model 3",
        "model m\nsampler { }",
        "model m\nprofile { }",
        "model m\nvariables { 3 : real[2] }",
    ),
}


def _describe(token) -> str:
    if token.type == "$END":
        return "the end of the file"
    return f"`{token}`"


_NUMBER_START = re.compile(r"(\d|\.\d)")
_BAD_NUMBER = re.compile(r"[0-9.](?:[eE][+-]|[0-9A-Za-z_.])*")
_BRACKETS = {"{": "}", "(": ")", "[": "]"}


def _unclosed_bracket(text: str) -> tuple[int, str] | None:
    """Offset and character of the first bracket never closed, skipping comments and strings."""
    stack = _open_brackets(text, len(text))
    return stack[0] if stack else None


def _open_brackets(text: str, end: int) -> list[tuple[int, str]]:
    """Brackets still open at offset `end`, outermost first, skipping comments and strings."""
    stack: list[tuple[int, str]] = []
    i = 0
    while i < end:
        ch = text[i]
        if ch == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if ch == '"':
            string = re.match(r'"([^"\\\n]|\\.)*"?', text[i:])
            i += string.end() if string else 1
            continue
        if ch in _BRACKETS:
            stack.append((i, ch))
        elif ch in _BRACKETS.values() and stack and _BRACKETS[stack[-1][1]] == ch:
            stack.pop()
        i += 1
    return stack


_TOP_KEYWORD = re.compile(r"[ \t]*(data|variables|energy|sampler|train|evaluate|profile)\b")
# `key =` with nothing after it on the line, then the next statement's first name (read as value).
_NO_VALUE = re.compile(r"([A-Za-z_][\w.]*)[ \t]*(=)[ \t]*(#[^\n]*)?\n\s*([A-Za-z_]\w*)[ \t]*$")


def _line_start(text: str, offset: int) -> int:
    return text.rfind("\n", 0, offset) + 1


def _block_name(text: str, offset: int) -> str:
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text[:offset].splitlines()[-1] if offset else "")
    return words[0] if words else "block"


def syntax_diagnostic(source: Source, error: UnexpectedInput, parser: Lark) -> Diagnostic:
    text = source.text
    if isinstance(error, UnexpectedCharacters):
        pos = error.pos_in_stream
        rest = text[pos:]
        if rest.startswith('"'):
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            return Diagnostic(
                "E002",
                "unterminated string",
                source.span(pos, end),
                'close the string with `"` on the same line',
            )
        if _NUMBER_START.match(rest):
            bad = _BAD_NUMBER.match(rest).group(0)
            return Diagnostic(
                "E003",
                f"malformed number `{bad}`",
                source.span(pos, pos + len(bad)),
                "numbers look like `3`, `0.05`, `.5` or `1e-5`",
            )
        return Diagnostic(
            "E001",
            f"unexpected character `{rest[:1]}`",
            source.span(pos, pos + 1),
            "remove it; comments start with `#`",
        )

    at_end = isinstance(error, UnexpectedEOF) or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END"
    )
    token = getattr(error, "token", None)
    pos = token.start_pos if token is not None and token.type != "$END" else len(text)
    # A block left open before a later top-level keyword: the parser only trips over that
    # keyword, but the mistake is the missing `}` of the block above it.
    next_block = not at_end and _TOP_KEYWORD.match(text, _line_start(text, pos))
    unclosed, where, line = None, "", source.position(pos)[0]
    if at_end or next_block:
        unclosed = _unclosed_bracket(text)
        where = "" if at_end else f" before line {line}"
    if token is not None and str(token) in _BRACKETS.values():
        closer = str(token)
        stack = _open_brackets(text, pos)
        if not any(_BRACKETS[opener] == closer for _, opener in stack):
            return Diagnostic(
                "E005",
                f"unmatched `{closer}`: no bracket is open for it to close",
                source.span(pos, pos + 1),
                "remove it, or add the opening bracket it was meant to close",
            )
        if _BRACKETS[stack[-1][1]] != closer:
            # The closer belongs to an outer bracket: the innermost one was left open.
            unclosed, where = stack[-1], f" before the `{closer}` at line {line}"
    before = text[:pos].rstrip()
    if (
        token is not None
        and token.type == "COMMA"
        and before.endswith(")")
        and not any(o in "([" for _, o in _open_brackets(text, pos))
    ):
        # `f(a)), b)`: a `,` outside every bracket right after `)`: that `)` closed the call.
        close = len(before) - 1
        opener = _open_brackets(text, close)[-1:]
        callee = re.findall(r"[A-Za-z_]\w*\s*$", text[: opener[0][0]]) if opener else []
        what = f"`{callee[0].strip()}(`" if callee else "the call"
        return Diagnostic(
            "E005",
            f"this `)` closes {what}, so the `,` after it is outside the call",
            source.span(close, close + 1),
            "remove this `)` if the arguments after it belong to the call",
        )
    if unclosed is not None and unclosed[0] < pos:
        offset, opener = unclosed
        what = f"`{_block_name(text, offset)}` block" if opener == "{" else f"`{opener}`"
        return Diagnostic(
            "E004",
            f"unterminated {what}: `{opener}` is never closed",
            source.span(offset, offset + 1),
            f"add the matching `{_BRACKETS[opener]}`{where}",
        )

    if token is not None and token.type in ("EQUAL", "DOT"):
        missing = _NO_VALUE.search(text, 0, pos)
        if missing is not None:
            key = missing.group(1)
            return Diagnostic(
                "E015",
                f"expected an expression after `{key} =`, found the end of the line",
                source.span(missing.start(2), missing.end(2)),
                f"give `{key}` a value on this line; statements may span lines, so "
                f"`{missing.group(4)}` on the next line was read as its value",
            )

    assert isinstance(error, UnexpectedToken | UnexpectedEOF)
    case = match_example(parser, error)
    if token is None or token.type == "$END":
        span = source.end_span
        found = "the end of the file"
    else:
        span = source.span(token.start_pos, token.end_pos)
        found = _describe(token)
    if case is None:
        expected = ", ".join(sorted(_pretty_terminal(parser, t) for t in error.expected))
        return Diagnostic(
            "E009",
            "unexpected end of input"
            if token is None or token.type == "$END"
            else f"unexpected {found}",
            span,
            f"expected one of: {expected}",
        )
    case = _statement_case(case, text, pos)
    help = case.help
    if case.code == "E022" and token is not None and token.type == "COLON":
        # `batch: 200`, as YAML or Python annotations would write it.
        key = re.findall(r"([A-Za-z_][\w.]*)\s*$", text[:pos])
        value = text[token.end_pos :].split("\n", 1)[0].split("#", 1)[0].strip()
        if key:
            help = f"settings take `=`: write `{key[0]} = {value or '...'}`"
    return Diagnostic(case.code, f"{case.message}, found {found}", span, help)


def _statement_case(case: SyntaxCase, text: str, pos: int) -> SyntaxCase:
    """Sampler statements and settings share their parser states, so the table's match can name
    the other kind of block: pick by the block the error is in (`sampler` or any other)."""
    if case.code not in ("E019", "E022"):
        return case
    braces = [offset for offset, opener in _open_brackets(text, pos) if opener == "{"]
    in_sampler = bool(braces) and _block_name(text, braces[-1]) == "sampler"
    want = "E019" if in_sampler else "E022"
    return next(c for c in SYNTAX_EXAMPLES if c.code == want)


def _state_of(error: UnexpectedInput) -> int | None:
    state = getattr(error, "state", None)
    return None if state is None else state.position


def match_example(parser: Lark, error: UnexpectedInput) -> SyntaxCase | None:
    """The table entry whose snippet fails in the same LALR state (preferring the same token type).

    Lark's own `match_examples` also compares parse-stack depth, which makes a snippet written at
    top level miss the same mistake nested inside a block; the automaton state alone is enough here.
    """
    state, accepts = _state_of(error), getattr(error, "accepts", None)
    token_type = getattr(getattr(error, "token", None), "type", None)
    ranked: list[tuple[int, SyntaxCase]] = []
    for case, snippets in SYNTAX_EXAMPLES.items():
        for snippet in snippets:
            try:
                parser.parse(snippet, start="program")
            except UnexpectedInput as other:
                if _state_of(other) != state:
                    continue
                # Several statements share the `name_list` state; the accepted tokens tell
                # `update x <here>` (expects `with`) from `init x <here>` (expects `~`).
                same_accepts = getattr(other, "accepts", None) == accepts
                same_token = getattr(getattr(other, "token", None), "type", None) == token_type
                ranked.append((2 * same_accepts + same_token, case))
    return max(ranked, key=lambda r: r[0])[1] if ranked else None


def _pretty_terminal(parser: Lark, name: str) -> str:
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()
