"""README contract: exactly two set-up commands, and CI runs the README's test command verbatim."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```\n(.*?)```", section, re.S)]


def test_readme_has_exactly_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert all("\n" not in c and c.startswith("python3 -m venv") for c in commands)
    assert "pytest" not in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _setup_commands()[1] in ci.splitlines()


def _statements(text: str) -> list[str]:
    """Non-empty lines without comments, whitespace collapsed."""
    lines = (" ".join(line.split("#")[0].split()) for line in text.splitlines())
    return [line for line in lines if line]


def test_the_language_tour_is_the_dsprites_spec_through_its_cpu_profile(cli, tmp_path):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    intro = text.index("This is `specs/dsprites_joint.ebm`")
    tour = re.search(r"```\n(.*?)```", text[intro:], re.S).group(1)
    spec = _statements((ROOT / "specs" / "dsprites_joint.ebm").read_text(encoding="utf-8"))
    shown = _statements(tour)
    assert shown == spec[: len(shown)] and shown[-1] == "}" and "profile cpu {" in shown
    (tmp_path / "tour.ebm").write_text(tour, encoding="utf-8")
    status, _, err = cli("check", str(tmp_path / "tour.ebm"), "--profile", "cpu")
    assert status == 0, err


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    """The README's Python example, run verbatim in a fresh folder (the specs linked in): it
    trains, samples with a condition and prints decoded values."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("<!-- python-example", 1)[1].split("<!-- /python-example -->", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(code.strip().splitlines()) <= 10
    (tmp_path / "specs").symlink_to(ROOT / "specs", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "Samples(16 chains: x real[2], y categorical(2)[3] clamped; sampler joint, 50 sweeps)"
    )
    codes, means = lines[1].split("] [")
    assert codes == "[0, 1, 1" and len(means.split(", ")) == 2  # the condition, decoded
    assert 0.0 <= float(lines[2]) <= 1.0
    assert (tmp_path / "runs" / "toy_ssm" / "run.json").is_file()
    assert (tmp_path / "runs" / "latest").resolve() == (tmp_path / "runs" / "toy_ssm").resolve()
