"""Memory a spec's training will need, estimated when it is checked (issue 31, item 3).

In: a compiled `ir.Program` (its profile and `--set` settings applied) and, for a refusal, its
source, profile and settings. Out: an `Estimate` (one `Term` per allocation that scales with the
spec's numbers: model state, replay buffer, one iteration's activations) that `ebmspec check`
prints, and `check_memory`, which refuses a spec whose estimate passes the limit with a located
E509 at the number responsible (in the spec, the profile or the `--set` that gave it).

The activations are measured, not modelled: the energy is built on torch's `meta` device (no
storage, no initialisation; on the CPU when its weights are small, which is faster) and run on one
and on two examples under a saved-tensors hook, which sees every tensor autograd keeps for the
backward pass of a training step or a gradient-based sampler sweep; the difference is the bytes
per example. The data set held in memory is not
counted (its size is known only once it is read).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import torch

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, UserError
from ebmspec.source import Source

FLOAT = 4  # bytes: every model-space tensor is float32
STATE_COPIES = 5  # weights, gradients, Adam's two moments, the EMA weights
PERSISTENT = ("pcd", "jem")  # objectives whose negatives live in a replay buffer


@dataclass(frozen=True)
class Term:
    what: str
    bytes: int
    key: str | None  # the setting whose number scales it (`train.batch`), if one does


@dataclass(frozen=True)
class Estimate:
    terms: tuple[Term, ...]

    @property
    def total(self) -> int:
        return sum(t.bytes for t in self.terms)

    def largest(self) -> Term:
        return max(self.terms, key=lambda t: t.bytes)

    def describe(self) -> str:
        parts = ", ".join(f"{t.what} {size(t.bytes)}" for t in self.terms if t.bytes)
        return f"training needs about {size(self.total)}" + (f" ({parts})" if parts else "")


def size(count: float) -> str:
    """Bytes as people read them: 512 B, 3.1 MiB, 4.0 TiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def parse_size(text: str) -> int | None:
    """`8G`, `512M`, `1.5GiB`, `2000000` -> bytes; None when it is not a size."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if match is None:
        return None
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


def machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_limit() -> int | None:
    """80 % of this machine's memory: the rest is the data set, Python and the system's."""
    total = machine_memory()
    return None if total is None else int(0.8 * total)


# Energies with at most this many bytes of weights are counted on the CPU, not the meta device.
REAL_COUNT_LIMIT = 256 * 1024**2


def _numel(shape) -> int:
    return math.prod(shape)


def meta_model(program: ir.Program):
    """The energy built on the meta device: shapes without storage or initialisation."""
    from ebmspec.runtime.model.energy import lower_energy

    with torch.device("meta"):
        return lower_energy(program, seed=None)


def activation_bytes(program: ir.Program, model=None) -> tuple[int, int]:
    """(bytes autograd keeps per example, bytes it keeps whatever the batch) for one forward
    pass of the energy with every input differentiable, measured on the meta device
    (or, for small weights, on the CPU)."""
    model = meta_model(program) if model is None else model
    learned, fixed = model_bytes(model)
    device = "meta"
    if learned + fixed <= REAL_COUNT_LIMIT:
        # Meta kernels go through torch's Python decompositions, whose first call imports
        # torch._dynamo (2 s of a 5 s `ebmspec check`); the energy built on the CPU (initialised
        # as training would, so value-checking kernels accept it) gives the same byte counts
        # (tests/test_memory.py) in milliseconds when its weights are small.
        from ebmspec.runtime.model.energy import lower_energy

        model, device = lower_energy(program, seed=0), "cpu"

    def kept(batch: int) -> int:
        total = 0

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += tensor.numel() * tensor.element_size()
            return tensor

        values = {
            v.name: torch.zeros((batch, *v.tensor_shape), device=device, requires_grad=True)
            for v in program.variables
        }
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(values)
        return total

    one, two = kept(1), kept(2)
    return two - one, max(0, 2 * one - two)


def model_bytes(model) -> tuple[int, int]:
    """(learned parameter bytes, fixed buffer bytes) of an energy (on any device, meta included)."""
    learned = sum(p.numel() * p.element_size() for p in model.parameters())
    fixed = sum(b.numel() * b.element_size() for b in model.buffers())
    return learned, fixed


def estimate(program: ir.Program) -> Estimate | None:
    """The training estimate of a program with a train block (None without one)."""
    if program.train is None:
        return None
    settings = dict(program.train.settings)
    objective = program.train.objective
    batch = int(settings["batch"])
    example = FLOAT * sum(_numel(v.tensor_shape) for v in program.variables)
    model = meta_model(program)  # built once for both counts
    learned, fixed = model_bytes(model)
    per_example, shared = activation_bytes(program, model)
    terms = [Term("model state", STATE_COPIES * learned + fixed + shared, None)]
    if objective.name in PERSISTENT:
        buffer = int(dict(objective.args).get("buffer", 0))
        terms.append(Term("replay buffer", buffer * example, "train.objective.buffer"))
    # the data batch and as many negatives, each kept for the backward pass, and their gradients
    iteration = 2 * batch * (2 * per_example + 2 * example)
    terms.append(Term("activations of one iteration", iteration, "train.batch"))
    return Estimate(tuple(terms))


def _located(source: Source, key: str, profile, settings, program: ir.Program):
    """(source, span) of the number behind `key`: the last `--set` that gave it, else the
    profile's override, else the spec's own text."""
    for text in reversed(list(settings or ())):
        name, _, value = text.partition("=")
        if name.strip() == key:
            start = text.index("=") + 1
            start += len(value) - len(value.lstrip())
            where = Source("--set", text)
            return where, where.span(start, len(text.rstrip()))
    for chosen in program.profiles:
        if chosen.name == profile:
            for override in chosen.overrides:
                if override.key == key:
                    return source, override.span
    train = program.train
    name = key.rsplit(".", 1)[1]
    span = train.objective.span if key.startswith("train.objective.") else train.span
    text = source.text[span.start : span.end]
    match = re.search(rf"\b{name}\s*=\s*([^\s;,)}}]+)", text)
    if match is None:
        return source, span
    return source, source.span(span.start + match.start(1), span.start + match.end(1))


def check_buffer(program: ir.Program, source: Source, profile=None, settings=()) -> None:
    """E510 at the buffer's number: each iteration takes `batch` distinct chains from the replay
    buffer, so it needs at least that many (a generated spec with buffer 2, batch 4 crashed)."""
    train = program.train
    if train is None or train.objective.name not in PERSISTENT:
        return
    buffer = int(dict(train.objective.args).get("buffer", 0))
    batch = int(dict(train.settings)["batch"])
    if buffer >= batch:
        return
    where, span = _located(source, "train.objective.buffer", profile, settings, program)
    message = (
        f"the replay buffer of {train.objective.name} holds {buffer} chains, fewer than the "
        f"batch of {batch} that each iteration takes from it"
    )
    help = f"set `buffer` to at least {batch} (`--set train.objective.buffer={batch}`)"
    raise UserError(where, [Diagnostic("E510", message, span, help)])


def check_memory(
    program: ir.Program,
    source: Source,
    profile: str | None = None,
    settings=(),
    limit: int | None = None,
) -> Estimate | None:
    """The estimate, or E509 located at the number responsible when it passes `limit` (default:
    80 % of this machine's memory); first E510, a replay buffer smaller than the batch."""
    check_buffer(program, source, profile, settings)
    found = estimate(program)
    limit = default_limit() if limit is None else limit
    if found is None or limit is None or found.total <= limit:
        return found
    term = found.largest()
    where, span = source, program.train.span
    if term.key is not None:
        where, span = _located(source, term.key, profile, settings, program)
    message = f"{found.describe()}, more than the limit of {size(limit)}"
    help = (
        f"the {term.what} ({size(term.bytes)}) is the largest part: make this number smaller, "
        "or raise the limit with `--max-memory SIZE` (default: 80 % of this machine's memory)"
    )
    raise UserError(where, [Diagnostic("E509", message, span, help)])
