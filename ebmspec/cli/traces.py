"""`ebmspec sample --trace / --warmup / --thin`: the draws kept, their checks, their diagnostics.

In: the program, the conditions, `--output`, the sweeps and chains, and the tracing options
(`trace`, `warmup`, `thin`; `-o FILE.nc` implies `--trace`). Out: `Kept` (the sweeps kept as
draws) or a located error before any sweep runs (E915 a warm-up that leaves no draws, E918 a trace
too large to keep, E917 `.nc` without ArviZ); after the run, per-variable convergence rows of
every traced element; the convergence table on a Rich console; `-o FILE.nc` written as ArviZ
`InferenceData`.
"""

from __future__ import annotations

from pathlib import Path

from ebmspec.diagnostics import argument_error

LIMIT = 2 << 30  # bytes a trace may take (2 GiB): above it, refuse and say how to shrink it


def _size(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.3g} {unit}" if unit != "bytes" else f"{count:.0f} bytes"
        count /= 1024
    raise AssertionError("unreachable")


def check_tracing(program, tracing: tuple, output: Path | None, sweeps: int, chains: int, free):
    """(traced, `Kept`) for `tracing` = (trace, warmup, thin), or a located error."""
    from ebmspec.runtime.io.traces import TRACES_EXTRA, missing_packages
    from ebmspec.runtime.model.energy import variable_table
    from ebmspec.runtime.sampling.convergence import default_warmup
    from ebmspec.runtime.sampling.recording import Kept, trace_bytes

    trace, warmup, thin = tracing
    netcdf = output is not None and output.suffix.lower() == ".nc"
    traced = trace or netcdf
    kept = Kept(sweeps, default_warmup(sweeps) if warmup is None else warmup, thin)
    if kept.draws < 1 and (warmup is not None or traced):
        if warmup is not None:
            name, text = "--warmup", str(warmup)
            message = f"a warm-up of {warmup} sweeps leaves none of the {sweeps} sweeps as draws"
            help = f"keep some: --warmup below {sweeps}, or more sweeps with --steps"
        else:
            name, text = "--steps", str(sweeps)
            message = (
                f"`--steps {sweeps}` leaves no draws to trace after the default warm-up of "
                f"{kept.warmup} sweeps (the first half, rounded up)"
            )
            help = "run at least 2 sweeps with --steps (or set the warm-up with --warmup)"
        raise argument_error(name, text, "E915", message, 0, len(text), help)
    missing = missing_packages() if netcdf else []
    if missing:
        text = str(output)
        start = len(text) - len(output.suffix)
        raise argument_error(
            "--output",
            text,
            "E917",
            f"writing ArviZ InferenceData (.nc) needs {' and '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed",
            start,
            len(text),
            f'install the extra: `pip install "{TRACES_EXTRA}"`, or save an .npz instead',
        )
    size = trace_bytes(variable_table(program), free, chains, kept) if traced else 0
    if size > LIMIT:
        text = f"{chains} chains x {kept.draws} draws x {_size(size / chains / kept.draws)}"
        bigger = -(-size // LIMIT)  # the thinning that brings it under the limit
        raise argument_error(
            "--trace",
            text,
            "E918",
            f"the trace would take {_size(size)}, more than the {_size(LIMIT)} it may",
            0,
            len(text),
            f"keep one draw in {max(bigger, 2) * thin} (--thin {max(bigger, 2) * thin}), "
            "or run fewer --chains or --steps (a longer --warmup keeps fewer draws too)",
        )
    return traced, kept


def element_rows(draws: dict) -> tuple[dict, dict]:
    """({variable: convergence row of each element}, {variable: {key: [*shape] numpy}}) of the
    traced draws {variable: [chain, draw, *shape]}; empty with fewer than 4 draws."""
    from ebmspec.runtime.sampling.convergence import per_element, summary

    rows, elements = {}, {}
    for name, value in draws.items():
        if value.shape[1] < 4:
            return {}, {}
        found = per_element(value)
        rows[name] = summary(found, "elements")
        elements[name] = {key: tensor.numpy() for key, tensor in found.items()}
    return rows, elements


def netcdf_writer(draws: dict, clamped: dict, elements: dict, blocks: list, facts: dict):
    """A function that writes the `.nc` to the temp path `write_output` gives it."""
    from ebmspec.runtime.io.traces import inference_data, write_netcdf

    idata = inference_data(
        {name: value.numpy() for name, value in draws.items()},
        {name: value.numpy() for name, value in clamped.items()},
        elements,
        [
            (f"{label}: {kernel}({names})", rate, moves)
            for label, kernel, names, rate, moves in blocks
        ],
        facts,
    )
    return lambda temp: write_netcdf(idata, temp)


def print_convergence(console, convergence: dict, kept, traced: bool) -> None:
    """The convergence table: per variable its worst R-hat, how many elements exceed 1.01, its
    smallest bulk and tail ESS (of each element with --trace, else of its per-chain mean)."""
    from rich.table import Table

    thinned = f", every {kept.thin}th" if kept.thin > 1 else ""
    title = f"convergence ({kept.draws} draws after {kept.warmup} warm-up sweeps{thinned})"
    checks = Table(title=title, title_justify="left")
    columns = ("variable", "of", "split R-hat (worst)", "> 1.01", "bulk ESS (min)")
    for column in (*columns, "tail ESS (min)", "ESS / s"):
        checks.add_column(column, justify="left" if column in ("variable", "of") else "right")
    for name, row in convergence.items():
        of = f"{row['elements']} elements" if traced else "mean"
        checks.add_row(
            name,
            of,
            f"{row['rhat']:.3f}",
            f"{row['rhat_over_1_01']}",
            f"{row['ess_bulk']:.0f}",
            f"{row['ess_tail']:.0f}",
            f"{row['ess_per_second']:.3g}",
        )
    console.print(checks)
    console.print(
        "rank-normalised split R-hat (about 1 when the chains agree; > 1.01: not mixed), bulk and "
        "tail ESS as Stan and ArviZ report them, "
        + ("of every element (per element: --json)" if traced else "of each variable's mean")
    )
