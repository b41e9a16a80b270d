"""Library entry points: spec text or file in, checked and planned `ir.Program` out.

`compile_spec(source, profile, settings)` = parse -> check -> `passes.PIPELINE` -> constant folding
(`runtime/model/fold.py`) -> the profile and `--set` settings -> `passes.FINISH`: the one pipeline
entry that the CLI, the run folders, the benches and the tests use. `check_trainable` is the rule
for what `ebmspec train` can run. Raises `UserError` (exit 1 in the CLI) with located diagnostics
on any mistake in the spec or a setting.

The public Python API (`ebmspec.load`, `ebmspec.load_run`, re-exported by the package) lives in
the submodules: `model` (a loaded spec, `fit`), `run` (a trained run: `sample`, `evaluate`),
`samples` (decoded sample sets), `values` (Python values <-> model space), and the steps it shares
with the CLI: `training` (a new run folder, the training loop) and `evaluation` (`ebmspec eval`).
This module imports none of them, so they may import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ebmspec import ir
from ebmspec.diagnostics import Diagnostic, UserError, argument_error
from ebmspec.frontend.parser import parse_source
from ebmspec.passes import FINISH, PIPELINE
from ebmspec.passes.profiles import apply_overrides, apply_profile

# Kernels, datasets, energy blocks and objectives are declared once, in their own runtime
# modules, which add their registry rows when imported: the checker below reads those rows but may
# not import the runtime.
from ebmspec.runtime import data as _datasets  # noqa: F401
from ebmspec.runtime.model import blocks as _blocks  # noqa: F401
from ebmspec.runtime.model.fold import fold_constants
from ebmspec.runtime.sampling import kernels as _kernels  # noqa: F401
from ebmspec.runtime.training import objectives as _objectives  # noqa: F401
from ebmspec.semantic.checker import check_program
from ebmspec.semantic.profiles import check_setting
from ebmspec.source import NO_SPAN, Source


def read_source(path: str | Path) -> Source:
    """Read a spec file; a missing or unreadable file is a located user error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise UserError(
            Source(str(path), ""),
            [
                Diagnostic(
                    "E000",
                    f"cannot read spec file: {reason}",
                    NO_SPAN,
                    "check the path; specs are UTF-8 text files ending in .ebm",
                )
            ],
        ) from None
    return Source(str(path), text)


def compile_spec(
    source: Source, profile: str | None = None, settings: Sequence[str] = ()
) -> ir.Program:
    """Parse, check, run `passes.PIPELINE` and constant folding, apply `profile` and each
    `--set` setting, then run `passes.FINISH`."""
    program = check_program(source, parse_source(source))
    for run_pass in PIPELINE:
        program = run_pass(program)
    program = fold_constants(program)  # a pass that evaluates runtime ops (runtime/model/fold.py)
    program = configure(program, profile, settings)
    for run_pass in FINISH:
        program = run_pass(program)
    return program


def compile_file(
    path: str | Path, profile: str | None = None, settings: Sequence[str] = ()
) -> ir.Program:
    return compile_spec(read_source(path), profile, settings)


def configure(program: ir.Program, profile: str | None, settings: Sequence[str] = ()):
    """Apply a profile of the spec first, then each `key=value` setting in order, each checked
    like spec text (a mistake is located in the setting's own text)."""
    if profile is not None:
        names = [p.name for p in program.profiles]
        if profile not in names:
            available = ", ".join(f"`{n}`" for n in names) or "none"
            raise argument_error(
                "--profile", profile, "E927", f"`{program.name}` has no profile `{profile}`",
                0, len(profile), f"the spec's profiles: {available}",
            )  # fmt: skip
        program = apply_profile(program, profile)
    overrides = [check_setting(program, Source("--set", text)) for text in settings or ()]
    return apply_overrides(program, overrides)


def check_trainable(program: ir.Program, source: Source) -> None:
    """A train block, a data line and an energy with learned parameters, else E924."""
    if program.train is None or program.data is None:
        missing = "train" if program.train is None else "data"
        message = f"`{program.name}` has no `{missing}` block, so there is nothing to train"
        help = "add a `data` line and a `train { objective = pcd(...) }` block"
        raise UserError(source, [Diagnostic("E924", message, NO_SPAN, help)])
    if not learns(program):
        message = f"the energy of `{program.name}` has no learned parameters: nothing to train"
        help = (
            "add a block that owns weights (`mlp`, `linear`, `quadratic`, ...) or a learned "
            "tensor (`params { w[2] = 0.0 }`); `ebmspec sample` samples the spec as it is"
        )
        raise UserError(source, [Diagnostic("E924", message, program.energy.span, help)])


def learns(program: ir.Program) -> bool:
    """Whether the energy owns a parameter: a block with weights or a learned `params` tensor."""
    if any(not p.fixed for p in program.params):
        return True
    pending = [let.value for let in program.energy.lets] + [program.energy.result]
    while pending:
        node = pending.pop()
        if isinstance(node, ir.Op):
            if node.module is not None:
                return True
            pending.extend(node.inputs)
    return False
