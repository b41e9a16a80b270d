"""The `ebmspec check` summary: a checked program in, Rich tables out.

Shows the variables and their domains, every energy component with its exact PyTorch architecture
and parameter count (and the total), the per-example shape of every binding, the sampler schedule,
the training objective, the evaluation and the profiles. Spec text (the doc, string arguments, the
path) is escaped, so brackets in it print as written instead of being read as Rich markup.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ebmspec import ir
from ebmspec.dumps import static_part, sweep_costs
from ebmspec.passes.plan_sweep import plan_sweeps
from ebmspec.runtime.model.energy import lower_energy, parametric_ops


def _call(call: ir.Call) -> str:
    return escape(ir.format_call(call, skip_unset=True))


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


def _evaluations(step) -> str:
    text = f"{step.passes} fwd+bwd" + (f", {step.forwards} fwd" if step.forwards else "")
    if step.entry == "reuse":
        text += f" (reuses block {step.source})"
    return text


def print_summary(console: Console, program: ir.Program, path: str, profile: str | None) -> None:
    title = f"[bold]{program.name}[/bold]" + (f" — {escape(program.doc)}" if program.doc else "")
    console.print(f"{escape(path)}: ok  {title}" + (f"  (profile {profile})" if profile else ""))
    if program.data is not None:
        transforms = "; ".join(
            f"{t.variable}: " + " |> ".join(_call(s) for s in t.steps)
            for t in program.data.transforms
        )
        console.print(
            f"data: {_call(program.data.source)}"
            + (f"  transform {transforms}" if transforms else "")
        )

    variables = Table(title="variables", title_justify="left")
    for column in ("name", "domain", "role", "energy input"):
        variables.add_column(column)
    for v in program.variables:
        variables.add_row(
            v.name, v.describe(), "data" if v.observed else "latent", _shape(v.tensor_shape)
        )
    console.print(variables)

    model = lower_energy(program)
    counts = model.parameter_counts()
    energy = Table(title="energy components", title_justify="left", show_lines=True)
    for column in ("component", "block", "output", "architecture", "parameters"):
        energy.add_column(column, overflow="fold")
    for decl in program.params:  # declared tensors first: learned ones count, fixed ones not
        init = decl.init[0] if decl.init[0] != "constant" else f"constant {decl.init[1]:g}"
        kind = "constant" if decl.fixed else "parameter"
        energy.add_row(decl.name, kind, _shape(decl.shape), init, f"{counts.get(decl.name, 0):,}")
    for node in parametric_ops(program.energy):
        block = model.blocks[node.module]
        architecture = repr(getattr(block, "net", block))
        energy.add_row(
            node.module, node.op, _shape(node.shape), architecture, f"{counts[node.module]:,}"
        )
    total = sum(counts.values())
    energy.add_row("[bold]total[/bold]", "", "", "", f"[bold]{total:,}[/bold]")
    console.print(energy)
    shapes = ", ".join(f"{let.name}: {_shape(let.value.shape)}" for let in program.energy.lets)
    console.print(
        f"bindings: {shapes or '(none)'}; f: {_shape(program.energy.result.shape)} per example"
    )

    for sampler, plan in zip(program.samplers, plan_sweeps(program), strict=True):
        table = Table(
            title=f"sampler {sampler.name} ({sampler.sweeps} sweep(s) by default)",
            title_justify="left",
        )
        for column in ("step", "variables", "kernel", "repeats", "energy evaluations"):
            table.add_column(column)
        for init in sampler.inits:
            table.add_row(
                "init",
                ", ".join(init.variables),
                _call(init.dist) + (" (default)" if init.default else ""),
                "",
                "",
            )
        for index, (block, step) in enumerate(zip(sampler.blocks, plan.blocks, strict=True)):
            table.add_row(
                f"block {index}",
                ", ".join(block.variables),
                _call(block.kernel) + (" (default)" if block.default else ""),
                str(block.repeats),
                _evaluations(step),
            )
        console.print(table)
        console.print(
            f"per sweep: {plan.fused_passes} forward+backward passes with gradient reuse"
            f" ({plan.naive_passes} without)"
            + (f", {plan.fused_forwards} forward-only" if plan.fused_forwards else "")
        )
        for block in plan.cached:
            if block.split is not None:
                console.print(escape(f"cached {static_part(block)}"))
        console.print(escape(sweep_costs(plan)))

    if program.train is not None:
        train = program.train
        settings = ", ".join(
            f"{k}={ir.format_value(v)}" for k, v in train.settings if v is not None
        )
        console.print(f"objective: {_call(train.objective)}")
        console.print(f"optimizer: {_call(train.optimizer)}; {settings}")
    if program.evaluate is not None:
        for p in program.evaluate.predictions:
            methods = ", ".join(_call(m) for m in p.methods)
            console.print(
                f"evaluate: predict {', '.join(p.targets)} from {', '.join(p.given)} by {methods}"
            )
        for r in program.evaluate.reports:
            console.print(f"evaluate: {r.kind} {_call(r.call)}")
    for p in program.profiles:
        overrides = escape("; ".join(f"{o.key} = {ir.format_value(o.value)}" for o in p.overrides))
        console.print(f"profile {p.name}: {overrides or '(empty)'}")


def summary_dict(program: ir.Program, path: str, profile: str | None) -> dict:
    """What `print_summary` shows, as one JSON-able object (`ebmspec check --json`)."""
    counts = lower_energy(program).parameter_counts()
    samplers = []
    for sampler, plan in zip(program.samplers, plan_sweeps(program), strict=True):
        blocks = [
            {
                "variables": list(block.variables),
                "kernel": ir.format_call(block.kernel, skip_unset=True),
                "repeats": block.repeats,
                "passes": step.passes,
                "forwards": step.forwards,
            }
            for block, step in zip(sampler.blocks, plan.blocks, strict=True)
        ]
        inits = [
            {"variables": list(i.variables), "dist": ir.format_call(i.dist, skip_unset=True)}
            for i in sampler.inits
        ]
        samplers.append(
            {
                "name": sampler.name,
                "sweeps": sampler.sweeps,
                "inits": inits,
                "blocks": blocks,
                "passes_per_sweep": plan.fused_passes,
            }
        )
    train = program.train
    return {
        "path": path,
        "ok": True,
        "model": program.name,
        "doc": program.doc,
        "profile": profile,
        "data": ir.format_call(program.data.source, skip_unset=True) if program.data else None,
        "variables": [
            {
                "name": v.name,
                "domain": v.describe(),
                "role": "data" if v.observed else "latent",
                "shape": list(v.tensor_shape),
            }
            for v in program.variables
        ],
        "parameters": counts,
        "parameter_total": sum(counts.values()),
        "samplers": samplers,
        "objective": ir.format_call(train.objective, skip_unset=True) if train else None,
        "train": {k: _plain(v) for k, v in train.settings if v is not None} if train else None,
        "profiles": {
            profile.name: {o.key: _plain(o.value) for o in profile.overrides}
            for profile in program.profiles
        },
    }


def _plain(value):
    """A setting's value as JSON has it: numbers, strings and booleans as they are, the rest as
    spec text."""
    return value if isinstance(value, bool | int | float | str) else ir.format_value(value)
