"""The Typer application and the options every command shares.

In: nothing. Out: `app` (the command group, `-h` and `--help` everywhere), `Command` (usage lines
by metavar), `console()`, the shared option types (`SpecArg`, `ProfileOpt`, `SetOpt`, `BestOpt`,
`DeviceOpt`, `CaptureOpt`, `JsonOpt`) and `device()`. Each command is declared in its own module of
`ebmspec.cli.commands`, which registers it here when imported.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


class _PlainHelp:
    """Help without Typer's type labels where they say nothing: `--help` has no `<bool>`."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


class Command(_PlainHelp, typer.core.TyperCommand):
    def collect_usage_pieces(self, ctx) -> list[str]:
        """`ebmspec train [OPTIONS] SPEC`: arguments by their metavar (Typer writes `{SPEC}`)."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class _Group(_PlainHelp, typer.core.TyperGroup):
    pass


app = typer.Typer(
    cls=_Group,
    name="ebmspec",
    help="Declarative energy-based models: check, compile, train and sample `.ebm` specs.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140, highlight=False)


SpecArg = Annotated[Path, typer.Argument(metavar="SPEC", help="the .ebm spec file")]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", metavar="NAME", help="apply this profile of the spec first"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set train.iterations=500",
    ),
]
BestOpt = Annotated[
    bool,
    typer.Option(
        "--best",
        metavar="",
        help="use the run's best evaluated weights (best.safetensors), not the last",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", metavar="", help="print one JSON object")]
MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--max-memory",
        metavar="SIZE",
        help="refuse a spec whose training needs more (e.g. 8G; default: 80% of this machine)",
    ),
]


def memory_limit(text: str | None) -> int | None:
    """`--max-memory` in bytes (None: the default limit), or a located E940."""
    from ebmspec.diagnostics import argument_error
    from ebmspec.memory import parse_size

    if text is None:
        return None
    found = parse_size(text)
    if found is None or found <= 0:
        raise argument_error(
            "--max-memory", text, "E940", f"`{text}` is not a size", 0, len(text),
            "write a number of bytes with an optional unit: 512M, 8G, 1.5GiB",
        )  # fmt: skip
    return found


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DeviceOpt = Annotated[
    Device, typer.Option("--device", metavar="auto|cpu|cuda", help="auto: cuda if available")
]


class Capture(StrEnum):
    off = "off"
    compile = "compile"
    graphs = "graphs"


CaptureOpt = Annotated[
    Capture,
    typer.Option(
        "--capture",
        metavar="off|compile|graphs",
        help="run each MCMC sweep as one compiled graph (graphs: CUDA-graph replay, CUDA only)",
    ),
]


def device(choice: Device) -> str:
    from ebmspec.cli.options import resolve_device

    return resolve_device(choice.value)
