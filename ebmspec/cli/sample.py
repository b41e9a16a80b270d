"""Presenting sampled chains: the Rich summary, the .npz payload and per-block diagnostics.

In: a program, the sampled values (`{name: tensor}` on the CPU), the final `ChainState` and the
conditions. Out: Rich tables on a console, .npz bytes (categoricals as integer codes, binaries as
0/1, reals as they are, plus the per-block acceptance rates), and notes about inits that fell back
for want of data statistics. `sample_command` is `ebmspec sample` once its arguments are parsed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ebmspec.diagnostics import argument_error


def init_fallbacks(program, sampler: str, conditions: dict, stats: dict | None) -> list[str]:
    """The data-based inits that fall back (no training run means no data statistics)."""
    from ebmspec.semantic.registry import INIT_DISTS

    notes = []
    variables = {v.name: v for v in program.variables}
    for init in program.sampler(sampler).inits:
        if not INIT_DISTS[init.dist.name].extra.get("needs_data"):
            continue
        for name in init.variables:
            if name in conditions or name in (stats or {}):
                continue
            v = variables[name]
            instead = (
                "uniform over its values"
                if v.discrete
                else f"U({v.low:g}, {v.high:g})"
                if v.low is not None
                else "N(0, 1)"
            )
            notes.append(
                f"`init {name} ~ {init.dist.name}` needs the data statistics of a training run; "
                f"without one `{name}` starts from {instead}"
            )
    return notes


def block_report(program, sampler: str, conditions: dict, state) -> list[tuple]:
    """(label, kernel, variables, acceptance, moves per step) per block that ran, in order: the
    library's table (`ebmspec.api.samples.block_report`), which `Run.sample` reports too."""
    from ebmspec.api.samples import block_report as report

    return report(program, sampler, conditions, state)


def _codes(variable, value):
    """Categoricals as integer codes, binaries as 0/1 integers, reals as they are."""
    from ebmspec.runtime.sampling.recording import codes

    return codes(variable, value)


def npz_bytes(
    program,
    values: dict,
    blocks: list[tuple],
    convergence: dict | None = None,
    trace=None,
    transforms: dict | None = None,
) -> bytes:
    """The .npz: every variable's final state [chain, *shape] in model space (what the energy
    sees: transformed reals, categorical codes), or with `trace` (draws, per-element diagnostics,
    facts) its draws [chain, draw, *shape] (a clamped one repeated over the draws); and for each
    real variable with fitted `transforms` (a trained run's), `data.NAME`: the same values with
    the transforms inverted, in the data's own units (the Python API's `samples[NAME]`)."""
    import io

    import numpy as np
    import torch

    arrays = {v.name: _codes(v, values[v.name]).numpy() for v in program.variables}
    if trace is not None:
        from ebmspec.runtime.io.traces import npz_arrays

        draws, elements, facts = trace
        for name, value in arrays.items():
            shape = (value.shape[0], facts["draws"], *value.shape[1:])
            kept = draws.get(name)
            arrays[name] = np.broadcast_to(value[:, None], shape) if kept is None else kept.numpy()
        arrays |= npz_arrays(elements, facts)
    for name, pipeline in (transforms or {}).items():
        if getattr(pipeline, "fitted", False) and name in arrays:
            model_space = torch.from_numpy(np.ascontiguousarray(arrays[name])).float()
            shape = model_space.shape
            flat = model_space.reshape(-1, *shape[2 if trace is not None else 1 :])
            arrays[f"data.{name}"] = pipeline.inverse(flat).reshape(shape).numpy()
    # Variable names are identifiers, so dotted keys cannot collide with them.
    arrays["sampler.blocks"] = np.array([f"{b[0]}: {b[1]}({b[2]})" for b in blocks], dtype=str)
    arrays["sampler.acceptance"] = np.array([b[3] for b in blocks], dtype=np.float64)
    arrays["sampler.moves"] = np.array([b[4] for b in blocks], dtype=np.float64)
    convergence = convergence or {}
    arrays["diagnostics.variables"] = np.array(list(convergence), dtype=str)
    for key in ("rhat", "rhat_over_1_01", "ess_bulk", "ess_tail", "ess_per_second"):
        arrays[f"diagnostics.{key}"] = np.array(
            [row[key] for row in convergence.values()], dtype=np.float64
        )
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _describe_samples(variable, value) -> str:
    import torch

    value = _codes(variable, value)
    if variable.kind == "real":
        flat = value.reshape(value.shape[0], -1).double()
        if flat.shape[1] <= 4:
            mean = ", ".join(f"{m:.3g}" for m in flat.mean(0).tolist())
            std = ", ".join(f"{s:.3g}" for s in flat.std(0, correction=0).tolist())
            return f"mean [{mean}]  std [{std}]"
        return (
            f"mean {flat.mean():.3g}  std {flat.std(correction=0):.3g}  "
            f"range [{flat.min():.3g}, {flat.max():.3g}]"
        )
    levels = variable.categories if variable.kind == "categorical" else 2
    sites = value.reshape(value.shape[0], -1)
    parts = []
    for site in range(min(sites.shape[1], 4)):
        counts = torch.bincount(sites[:, site], minlength=levels).tolist()
        ranked = sorted(range(levels), key=lambda c: -counts[c])
        listed = ", ".join(f"{c}: {counts[c]}" for c in ranked[:5] if counts[c])
        more = " ..." if sum(1 for c in counts if c) > 5 else ""
        where = f"[{site}] " if variable.shape else ""
        parts.append(f"{where}mode {ranked[0]} ({listed}{more})")
    if sites.shape[1] > 4:
        parts.append(f"... {sites.shape[1] - 4} more sites")
    return "; ".join(parts)


def describe_json(variable, value) -> dict:
    """One variable's samples for `sample --json`: mean and std per element of a real variable,
    counts of each value per site of a discrete one (the first 64 elements or sites)."""
    import torch

    value = _codes(variable, value)
    flat = value.reshape(value.shape[0], -1)[:, :64]
    if variable.kind == "real":
        flat = flat.double()
        return {
            "kind": "real",
            "mean": flat.mean(0).tolist(),
            "std": flat.std(0, correction=0).tolist(),
        }
    levels = variable.categories if variable.kind == "categorical" else 2
    counts = [torch.bincount(site, minlength=levels).tolist() for site in flat.T]
    return {"kind": variable.kind, "counts": counts}


def print_samples(console, program, origin, run, conditions, values, blocks, checks) -> None:
    """The samples, blocks and convergence tables; `checks`: (convergence, kept, traced)."""
    from rich.markup import escape
    from rich.table import Table

    clamped = ", ".join(c.text for c in conditions.values()) or "nothing (unconditional)"
    console.print(f"{escape(origin)}\n{escape(run)}; clamped: {escape(clamped)}")
    table = Table(title="samples", title_justify="left")
    for column in ("variable", "domain", "samples"):
        table.add_column(column, overflow="fold")
    for v in program.variables:
        text = "clamped" if v.name in conditions else _describe_samples(v, values[v.name])
        table.add_row(v.name, escape(v.describe()), escape(text))
    console.print(table)
    report = Table(title="blocks", title_justify="left")
    for column in ("block", "kernel", "variables", "acceptance", "moves / step"):
        report.add_column(column)
    for label, kernel, names, rate, moves in blocks:
        report.add_row(label, kernel, names, f"{rate:.3f}", f"{moves:.3g}")
    if blocks:
        console.print(report)
        console.print(
            "moves / step: sites changed (discrete) or distance moved (real) per chain and step"
        )
    else:
        console.print("every variable is clamped: no block ran")
    if checks[0]:
        from ebmspec.cli.traces import print_convergence

        print_convergence(console, *checks)


def check_sampler_name(program, name: str | None) -> str:
    from ebmspec.runtime.sampling.sampler import default_sampler
    from ebmspec.semantic.values import suggest

    if name is None:
        return default_sampler(program)
    known = [s.name for s in program.samplers]
    if name not in known:
        raise argument_error(
            "--sampler",
            name,
            "E913",
            f"unknown sampler `{name}`{suggest(name, known)}",
            0,
            len(name),
            f"the samplers of `{program.name}` are: {', '.join(known)}",
        )
    return name


def check_output(program, output: Path | None) -> None:
    """-o must end in .png (and the program have an image variable), .npz or .nc."""
    from ebmspec.runtime.plots.pixels import image_variable

    if output is None:
        return
    text, suffix = str(output), output.suffix.lower()
    start = len(text) - len(output.suffix)
    if suffix not in (".png", ".npz", ".nc"):
        found = f"`{output.suffix}` files" if suffix else "a file without a suffix"
        raise argument_error(
            "--output",
            text,
            "E910",
            f"cannot write {found}: samples are saved as .png (an image grid), .npz or .nc "
            "(ArviZ InferenceData)",
            start,
            len(text),
            "end the file name in .png, .npz or .nc, e.g. `-o samples.png`",
        )
    if suffix == ".png" and image_variable(program) is None:
        raise argument_error(
            "--output",
            text,
            "E912",
            f"`{program.name}` has no image variable to draw (a real variable of shape "
            "[1, H, W] or [3, H, W])",
            start,
            len(text),
            f"save every variable instead: `-o {text[:start]}.npz`",
        )


def write_samples(
    program, output: Path, values: dict, blocks, transforms, convergence=None, trace=None
) -> str:
    """Write `-o`: a .png grid of the image variable (the run's fitted transforms inverted) or
    an .npz of every variable (its draws with `trace`, see `npz_bytes`) and the acceptance rates;
    returns what was written (E914 when the file cannot be written)."""
    from ebmspec.cli.run_folders import write_output

    chains = len(next(iter(values.values())))
    if output.suffix.lower() == ".png":
        from ebmspec.runtime.plots.grids import grid_png
        from ebmspec.runtime.plots.pixels import image_variable

        image = image_variable(program)
        content = grid_png(program, image, values[image.name], transforms)
        what = f"a grid of {chains} samples of `{image.name}`"
    else:
        content = npz_bytes(program, values, blocks, convergence, trace, transforms)
        what = f"{chains} samples of {len(values)} variables, acceptance rates, R-hat and ESS"
        if trace is not None:
            what = f"{chains} chains x {trace[2]['draws']} draws of {len(values)} variables, " + (
                "acceptance rates, R-hat, ESS and MCSE per element"
            )
    write_output(output, content)
    return what


def sample_command(
    console,
    request: tuple,
    chains: int,
    seed: int,
    where: str,
    capture: str | None = None,
    tracing: tuple = (False, None, 1),
) -> None:
    """Load, check the conditions, run the chains with a progress bar over sweeps, then print
    the summary or write `output`. `request`: (spec_or_run, profile, settings, best,
    conditions, sampler, steps, output) as the command line gave them; `capture`: the
    torch.compile mode of captured sweeps (None: eager); `tracing`: (--trace, --warmup, --thin);
    `console` None: print one JSON object (`--json`) instead of the tables."""
    from ebmspec.cli import run_folders
    from ebmspec.cli.progress import sweep_progress
    from ebmspec.cli.traces import check_tracing, element_rows, netcdf_writer
    from ebmspec.conditions import check_conditions
    from ebmspec.runtime import allocator
    from ebmspec.runtime.model.energy import variable_table
    from ebmspec.runtime.sampling.convergence import Trace
    from ebmspec.runtime.sampling.recording import Recorder
    from ebmspec.runtime.sampling.sampler import sample as run_chains

    spec_or_run, profile, settings, best, condition, sampler, steps, output = request
    allocator.tune_allocator()
    loaded = run_folders.load_for_sampling(spec_or_run, profile, settings, best)
    program, model, stats, transforms, origin = loaded
    sampler = check_sampler_name(program, sampler)
    conditions = check_conditions(program, condition)
    check_output(program, output)
    sweeps = program.sampler(sampler).sweeps if steps is None else steps
    table = variable_table(program)
    free = [v.name for v in program.variables if v.name not in conditions]
    traced, kept = check_tracing(program, tracing, output, sweeps, chains, free)
    # --trace keeps every element's draws; else one mean per variable, chain and sweep
    keep = Recorder(table, free, kept) if traced else Trace(table, free, kept.warmup, kept.thin)
    if output is not None:  # without -o the summary names it; with -o, say what was sampled
        sys.stderr.write(f"sampling {origin}\n")
    for note in init_fallbacks(program, sampler, conditions, stats):
        sys.stderr.write(f"note: {note}\n")
    start = time.perf_counter()
    with sweep_progress(sweeps) as progress:

        def callback(state) -> None:
            keep(state)
            if progress is not None:
                progress(state)

        state, target = run_chains(
            program,
            model.to(where),
            chains,
            sweeps=sweeps,
            seed=seed,
            condition={name: c.value for name, c in conditions.items()},
            sampler=sampler,
            stats=stats,
            device=where,
            callback=callback,
            capture=capture,
        )
    draws = keep.draws() if traced else {}
    convergence, elements = element_rows(draws) if traced else (keep.diagnostics(), {})
    seconds = time.perf_counter() - start  # the sweeps and the diagnostics
    for row in convergence.values():
        row["ess_per_second"] = row["ess_bulk"] / seconds
    values = {name: value.detach().cpu() for name, value in state.point.values.items()}
    blocks = block_report(program, sampler, conditions, state)
    run = f"{chains} chains x {sweeps} sweeps of sampler `{sampler}` (seed {seed}, {where})"
    swaps = getattr(target, "swap_rates", None)
    if swaps is not None:  # parallel tempering: how often each neighbouring pair exchanged
        levels = ", ".join(f"{b:g}" for b in program.sampler(sampler).temperatures)
        rates = ", ".join(f"{float(r):.3f}" for r in swaps)
        run += f"; parallel tempering at b = [{levels}], swap rates {rates}"
    written = None
    facts = {"origin": origin, "sampler": sampler, "seed": seed, "chains": chains, "sweeps": sweeps}
    facts |= {"warmup": kept.warmup, "thin": kept.thin, "draws": kept.draws}
    if output is not None and output.suffix.lower() == ".nc":
        clamped = {name: _codes(table[name], values[name])[0] for name in conditions}
        write = netcdf_writer(draws, clamped, elements, blocks, facts)
        run_folders.write_output(output, write)
        what = f"{chains} chains x {kept.draws} draws as ArviZ InferenceData, with R-hat, ESS "
        sys.stderr.write(f"wrote {output} ({what}and MCSE per element)\n")
        written = str(output)
    elif output is not None:
        trace = (draws, elements, facts) if traced else None
        what = write_samples(program, output, values, blocks, transforms, convergence, trace)
        sys.stderr.write(f"wrote {output} ({what})\n")
        written = str(output)
    if console is None:  # --json
        from ebmspec.runtime.io import strict_json

        summary = {"origin": origin, "sampler": sampler, "chains": chains, "sweeps": sweeps}
        summary |= {"seed": seed, "device": where, "output": written}
        summary["conditions"] = {name: c.text for name, c in conditions.items()}
        summary["variables"] = {
            v.name: describe_json(v, values[v.name])
            for v in program.variables
            if v.name not in conditions
        }
        summary["blocks"] = [
            dict(zip(("block", "kernel", "variables", "acceptance", "moves"), b, strict=True))
            for b in blocks
        ]
        summary["convergence"] = convergence
        if swaps is not None:
            summary["swap_rates"] = [float(r) for r in swaps]
        summary["draws"] = {key: facts[key] for key in ("warmup", "thin", "draws")}
        summary["draws"]["traced"] = traced
        print(strict_json.dumps(summary))
    elif output is None:
        checks = (convergence, kept, traced)
        print_samples(console, program, origin, run, conditions, values, blocks, checks)
