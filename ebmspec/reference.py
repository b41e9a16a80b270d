"""Render the building-block registry as Markdown (`docs/pages/reference.md`).

In: the static tables of `semantic.registry`. Out: one Markdown document listing every name a spec
may use with its arguments, types and defaults. `tests/test_reference.py` keeps the committed file
in sync (`python -m ebmspec.reference > docs/pages/reference.md` regenerates it).
"""

from __future__ import annotations

from ebmspec import api  # noqa: F401  (its import declares the kernel and dataset rows)
from ebmspec.semantic import registry as reg

_TYPES = {
    "tensor": "tensor",
    "discrete": "categorical variable",
    "number_or_tensor": "number or tensor",
    "posint": "int > 0",
    "nonneg_int": "int >= 0",
    "int": "int",
    "posfloat": "number > 0",
    "nonneg_float": "number >= 0",
    "float": "number",
    "prob": "number in [0, 1]",
    "posints": "list of int > 0",
    "nonneg_ints": "list of int >= 0",
    "floats": "list of numbers",
    "betas": "two numbers in [0, 1)",
    "activation": "activation",
    "bool": "true/false",
    "string": "string",
    "strings": "list of strings",
    "variable": "variable",
    "sampler": "sampler",
    "choice": "one of",
    "choices": "list of",
    "objective": "objective call",
    "optimizer": "optimizer call",
}


def _param(p: reg.Param) -> str:
    kind = _TYPES[p.type.rstrip("?")]
    if p.choices:
        kind += " " + ", ".join(f"`{c}`" for c in p.choices)
    if p.default is reg.REQUIRED:
        default = "required"
    elif p.default is None:
        default = "none"
    elif isinstance(p.default, tuple):
        default = "`[" + ", ".join(str(d) for d in p.default) + "]`"
    elif isinstance(p.default, bool):
        default = f"`{str(p.default).lower()}`"
    else:
        default = f"`{p.default}`"
    where = " (positional)" if p.positional else ""
    return f"`{p.name}`{where}: {kind}, {default}"


def _table(title: str, signatures: dict[str, reg.Signature]) -> list[str]:
    lines = [f"## {title}", "", "| name | arguments | what it is |", "|---|---|---|"]
    for s in signatures.values():
        params = "; ".join(_param(p) for p in s.params) or "-"
        if s.variadic:
            params = "any number of tensors"
        domains = f" (domains: {', '.join(s.domains)})" if s.domains else ""
        lines.append(f"| `{s.name}` | {params} | {s.doc}{domains} |")
    return lines + [""]


def render_reference() -> str:
    lines = [
        "# ebmspec language reference",
        "",
        "Generated from `ebmspec/semantic/registry/` by `python -m ebmspec.reference`; every",
        "name below is checked at `ebmspec check` time, and nothing else is accepted.",
        "",
    ]
    lines += _table("Energy building blocks", reg.ENERGY_BLOCKS)
    lines += _table("Sampler kernels (`update VARS with ...`)", reg.KERNELS)
    lines += ["A variable that no `update` line names is sampled by its type's default kernel:", ""]
    for domain, (kernel, args) in reg.DEFAULT_KERNEL.items():
        arguments = ", ".join(f"{k} = {v}" for k, v in args.items())
        call = f"{kernel}({arguments})" if args else kernel
        lines.append(f"* {domain}: `{call}`")
    lines.append("")
    lines += _table("Init distributions (`init VARS ~ ...`)", reg.INIT_DISTS)
    lines += _table("Objectives (`objective = ...`)", reg.OBJECTIVES)
    lines += _table("Optimizers (`optimizer = ...`)", reg.OPTIMIZERS)
    lines += ["## Train settings", "", "| key | type, default |", "|---|---|"]
    lines += [f"| `{k}` | {_param(p).split(': ', 1)[1]} |" for k, p in reg.TRAIN_SETTINGS.items()]
    lines += ["", "## Sampler settings", "", "| key | type, default |", "|---|---|"]
    lines += [f"| `{k}` | {_param(p).split(': ', 1)[1]} |" for k, p in reg.SAMPLER_SETTINGS.items()]
    lines += [
        "",
        "## Activations (`act = ...`, or elementwise in the energy)",
        "",
        ", ".join(f"`{a}`" for a in reg.ACTIVATIONS),
        "",
        "## Size limit",
        "",
        f"Nothing a spec can ask for enumerates more than {reg.MAX_ENUMERABLE:,} joint",
        "values (joint `gibbs`, `jump`, exact latent sums, `jem`'s labels, `nll`, energy-based",
        "`predict`): `ebmspec check` refuses it and names the alternative.",
        "",
    ]
    lines += _table("Datasets (`data ...`)", reg.DATASETS)
    lines += _table("Transforms (`transform x: a |> b`)", reg.TRANSFORMS)
    lines += _table("Prediction methods (`predict ... by ...`)", reg.PREDICT_METHODS)
    for kind, table in reg.REPORTS.items():
        lines += _table(f"Reports: `{kind} ...`", table)
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render_reference(), end="")
