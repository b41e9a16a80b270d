"""`ebmspec check SPEC [--json]`: parse and check a spec, print its summary (or one JSON object)."""

from __future__ import annotations

from ebmspec.cli.base import Command, JsonOpt, ProfileOpt, SetOpt, SpecArg, app, console


@app.command(cls=Command)
def check(
    spec: SpecArg, profile: ProfileOpt = None, settings: SetOpt = None, json_output: JsonOpt = False
) -> None:
    """Parse and check SPEC; print its variables, energy, samplers, objective and profiles."""
    from ebmspec.api import compile_file
    from ebmspec.cli.summary import print_summary, summary_dict

    program = compile_file(spec, profile, settings or ())
    if json_output:
        from ebmspec.runtime.io import strict_json

        print(strict_json.dumps(summary_dict(program, str(spec), profile)))
        return
    print_summary(console(), program, str(spec), profile)
