"""Property: no mutation of a valid spec makes the compiler crash.

Random deletions, insertions of tokens that commonly go wrong, and word swaps applied to the shipped
specs must either compile (and emit Python) or raise a `UserError` whose rendering works - never any
other exception, which the CLI would report as an internal error (exit 2).
"""

from __future__ import annotations

import random

import pytest

from ebmspec.api import compile_spec
from ebmspec.codegen import emit_python
from ebmspec.diagnostics import UserError, render
from ebmspec.source import Source
from tests.conftest import SPECS

TOKENS = ["{", "}", "(", ")", "[", "]", ",", "=", "~", "|>", ":", ";", "x", "y", "0", "-1", "1e",
          "3.4.5", '"', "return", "update", "with", "init", "mlp(", "categorical(0)", "real",
          "latent", "in", "profile", "train.", "@", "\n", "gwg", "langevin", "1.5", "[]", "x_pos",
          "sum(", "onehot(x)", "repeat", "from", "by"]  # fmt: skip


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        pos = rng.randrange(len(text))
        choice = rng.random()
        if choice < 0.3:
            text = text[:pos] + text[pos + rng.randint(1, 8) :]
        elif choice < 0.7:
            text = text[:pos] + rng.choice(TOKENS) + text[pos:]
        else:
            words = text.split(" ")
            a, b = rng.randrange(len(words)), rng.randrange(len(words))
            words[a], words[b] = words[b], words[a]
            text = " ".join(words)
    return text


@pytest.mark.parametrize("seed", range(4))
def test_mutated_specs_never_crash(seed):
    rng = random.Random(seed)
    texts = [spec.read_text(encoding="utf-8") for spec in SPECS]
    rejected = 0
    for _ in range(150):
        source = Source("fuzz.ebm", mutate(rng.choice(texts), rng))
        try:
            emit_python(compile_spec(source))
        except UserError as error:
            rejected += 1
            text = render(error.source, error.diagnostics)
            assert "error[E" in text and "= help: " in text
    assert rejected > 50  # the mutations really do break specs
