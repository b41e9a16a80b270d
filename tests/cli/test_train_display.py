"""What `ebmspec train` prints in a log (not a terminal): a line at iterations 1 and 10 and every
~5 % after, the speed and the projected length of the whole schedule with a hint at the spec's
profiles when it runs for hours, and no line wrapped at the console width."""

from __future__ import annotations

import io

from rich.console import Console

from ebmspec.cli.train_display import LiveDisplay

METRICS = {"loss": 1.0, "f_data": 0.5, "f_samples": -0.5, "lr": 1e-4, "accept": {"gwg(y)": 0.5}}


def _run(total: int, seconds_per_iteration: float, iterations: int, hint=None) -> list[str]:
    stream = io.StringIO()
    console = Console(file=stream, width=60, force_terminal=False)
    display = LiveDisplay(console, title="m", hint=hint)
    display.start(total, 0)
    for it in range(1, iterations + 1):
        display.tick(it, it * seconds_per_iteration)
        display.update(it, {**METRICS, "train_seconds": it * seconds_per_iteration})
    display.evaluated(iterations, {"accuracy_energy": 0.5, "iteration": iterations})
    display.stop()
    return stream.getvalue().splitlines()


def test_a_slow_schedule_says_how_long_it_takes_and_which_profile_is_shorter():
    hint = "the spec's profiles (cpu) are shorter, e.g. `--profile cpu`"
    lines = _run(180_000, 3.2, 12, hint)
    assert lines[0].startswith("it 1/180000  3s  loss 1")
    assert lines[1] == f"3.20 s per iteration here: all 180000 take ~160.0 h; {hint}"
    assert lines[2].startswith("it 10/180000  32s  3.2 s/it  loss 1")
    assert lines[3] == "eval: acc energy 50.00% (it 12)"
    assert len(lines) == 4  # long lines are not wrapped at the 60-column console


def test_a_short_schedule_gets_no_hint_and_a_line_per_twentieth():
    lines = _run(100, 0.01, 100, "unused")
    iterations = [int(line.split()[1].split("/")[0]) for line in lines if line.startswith("it ")]
    assert iterations == [1, *range(5, 101, 5)]
    assert not any("per iteration here" in line for line in lines)


def test_the_summary_says_what_an_evaluation_without_predictions_measured(tmp_path):
    """A spec whose evaluate block holds only plots (or AIS) gets its test free energy in the
    periodic line and the final summary, not `evaluation on 0 test examples: ` with nothing."""
    from ebmspec.cli.train_display import _fmt_eval, print_training_summary

    result = {"iteration": 20, "examples": 0, "predictions": [], "test_free_energy": -5.4931,
              "test_free_energy_examples": 300}  # fmt: skip
    assert _fmt_eval(result) == "test free energy -5.493 nats (unnormalised) (it 20)"
    assert "reports no numbers" in _fmt_eval({"iteration": 20, "examples": 0})
    for last, expected in ((result, "evaluation on 300 test examples: test free energy"),
                           ({"iteration": 20, "examples": 0}, None)):  # fmt: skip
        stream = io.StringIO()
        summary = {"complete": True, "iteration": 20, "train_seconds": 1.0, "rollbacks": 0,
                   "last_eval": last}  # fmt: skip
        print_training_summary(Console(file=stream, width=200), tmp_path, summary)
        lines = [line for line in stream.getvalue().splitlines() if "evaluation on" in line]
        assert lines[0].startswith(expected) if expected else lines == [], lines
