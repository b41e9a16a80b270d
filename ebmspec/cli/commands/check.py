"""`ebmspec check SPEC [--json]`: parse and check a spec, print its summary (or one JSON object)."""

from __future__ import annotations

from ebmspec.cli.base import (
    Command,
    JsonOpt,
    MemoryOpt,
    ProfileOpt,
    SetOpt,
    SpecArg,
    app,
    console,
    memory_limit,
)

# Datasets whose files `check` reads (small, the user's own: csv tables and npz arrays); the
# packaged and image datasets are read by `train` alone (MNIST, dSprites: seconds to load).
FILE_CHECKED = ("csv", "npz")


@app.command(cls=Command)
def check(
    spec: SpecArg,
    profile: ProfileOpt = None,
    settings: SetOpt = None,
    json_output: JsonOpt = False,
    max_memory: MemoryOpt = None,
) -> None:
    """Parse and check SPEC (and read its csv or npz data file, if it names one); print its
    variables, energy, samplers, objective, profiles and the memory its training needs (refused
    past --max-memory)."""
    from ebmspec.api import compile_spec, read_source
    from ebmspec.cli.summary import print_summary, summary_dict
    from ebmspec.memory import check_memory

    limit = memory_limit(max_memory)
    source = read_source(spec)
    program = compile_spec(source, profile, settings or ())
    needs = check_memory(program, source, profile, settings or (), limit)
    if program.data is not None and program.data.source.name in FILE_CHECKED:
        # A user's own table or arrays: the file, its columns and cells are read here, so a
        # missing file or column is this command's error, not the first one `train` meets.
        from ebmspec.runtime.data import load_dataset

        load_dataset(program, spec.parent, source=source)
    if json_output:
        from ebmspec.runtime.io import strict_json

        summary = summary_dict(program, str(spec), profile)
        summary["memory"] = None if needs is None else {t.what: t.bytes for t in needs.terms}
        print(strict_json.dumps(summary))
        return
    print_summary(console(), program, str(spec), profile)
    if needs is not None:
        console().print(f"memory: {needs.describe()} (the data set not counted)")
