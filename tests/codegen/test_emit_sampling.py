"""The emitted module samples exactly like the in-process schedule (acceptance item 6).

Every spec in specs/ and small mixed specs that use every kernel (GWG with several flips, Gibbs,
Metropolis on discrete and on real variables, Langevin, MALA, HMC) are emitted, linted, and run in
a fresh `python -I` without ebmspec from the parameters the in-process model saved. For the same
seed, condition (none, whole variables clamped, elements clamped) and data statistics, the chains
must be equal bit for bit (values, energies, gradients, acceptance and hop counts, and the number
of evaluations), since the emitted module runs the very kernel and schedule code in the same order.
The emitted `main` samples with `--condition`, clamps, saves and summarises, and rejects bad
conditions.
"""

from __future__ import annotations

import ast
import importlib.util
import sys

import pytest
import torch
import torch.nn.functional as F

from ebmspec.api import compile_file, compile_spec
from ebmspec.codegen import emit_python
from ebmspec.conditions import check_conditions
from ebmspec.diagnostics import UserError
from ebmspec.runtime.model.energy import lower_energy, random_values
from ebmspec.runtime.sampling import sampler as sampling
from ebmspec.semantic import registry as reg
from ebmspec.source import Source
from tests.codegen.harness import assert_equal_tensors, assert_same_chains, compare_sampling
from tests.conftest import SPECS
from tests.test_identifiers import KEYWORDS_SPEC

# Every kernel once, on every domain it supports, with repeats, bounds and several samplers (one
# of them named like a Python keyword). Gaussian terms keep the real chains from running away.
MIXED = """\
model mixed "every kernel"

variables {
  b : binary[3]
  c : categorical(3)[2]
  d : categorical(4)
  e : binary[2]
  k : categorical(3)
  r : real[2] in [-2, 2]
  u : real[3]
  w : real[2]
  h : real[2, 2]
  a : binary[2]
}

energy {
  net = mlp(concat(b, flatten(onehot(c)), onehot(d), e, onehot(k), r, u, w, flatten(h)),
            hidden = [8], act = tanh)
  return net + quadratic(b) + gaussian(r, mean = 0.5) + gaussian(u, mean = 0)
    + gaussian(w, mean = 1, std = 0.5) + gaussian(h, mean = 0) + linear(concat(e, u))
    + bilinear(a, w)
}

sampler every {
  init b, c ~ uniform
  init d, e, k ~ uniform
  init r ~ uniform
  init u ~ normal(mean = 0.5, std = 2)
  init w, h ~ normal
  update b, c with gwg(temperature = 1.5, flips = 3)
  update d with gibbs
  update e, k with metropolis
  update r with metropolis(scale = 0.3) repeat 2
  update u with langevin(step = 0.01)
  update w with mala(step = 0.05)
  update h with hmc(step = 0.1, leapfrog = 3, adapt = 2)
  update a with block_gibbs
  sweeps = 3
}

sampler lambda {
  init r ~ normal(std = 0.5)
  update b, c, d, e, k with gibbs
  update r, u with mala(step = 0.02, adapt = 3)
  update w, h with langevin(step = 0.01, noise = 0.05) repeat 2
  sweeps = 2
}

sampler parallel {
  update b, c, d, e, k with dmala(step = 0.7)
  update r, u, w, h with barker(scale = 0.1)
  sweeps = 2
}

sampler leap {
  update d, k, w, r with jump
  update b, c, e with gibbs
  update r, u, w, h with mala(step = 0.02)
  sweeps = 2
}
"""

# Every kernel of the registry: a new kernel module fails this test until MIXED uses it.
KERNELS = set(reg.KERNELS)


def _mixed_cases() -> list[dict]:
    """Unconditioned, whole variables clamped, elements clamped, per chain values, both
    samplers, several seeds: each a keyword set for `sample`."""
    chains = 3
    c_value = F.one_hot(torch.tensor([2, 0]), 3).float()
    partial = (F.one_hot(torch.tensor([[1, 1]] * chains), 3).float(), torch.tensor([True, False]))
    u_value = (torch.tensor([0.25, -1.0, 2.0]), torch.tensor([False, True, False]))
    h_value = (torch.full((2, 2), 0.5), torch.tensor([[True, False], [False, True]]))
    # jump's shift tables: w and r per joint value of (d, k), 4 x 3 rows
    shifts = torch.linspace(-1, 1, 24).reshape(12, 2)
    stats = {"w": {"means_by:d,k": shifts}, "r": {"means_by:d,k": shifts.flip(0) * 0.5}}
    return [
        {"chains": chains, "sweeps": 2, "seed": 0},
        {"chains": 2, "seed": 11, "sampler": "every"},
        {"chains": chains, "sweeps": 3, "seed": 7, "sampler": "leap", "stats": stats},
        {
            "chains": chains,
            "seed": 8,
            "sampler": "leap",
            "stats": stats,
            "condition": {
                "k": F.one_hot(torch.tensor(1), 3).float(),
                "r": (torch.zeros(2), torch.tensor([True, False])),
            },
        },
        {"chains": chains, "sweeps": 3, "seed": 5, "sampler": "parallel"},
        {"chains": chains, "seed": 6, "sampler": "parallel", "condition": {"c": partial}},
        {"chains": chains, "sweeps": 2, "seed": 3, "condition": {"c": c_value, "w": torch.ones(2)}},
        {
            "chains": chains,
            "sweeps": 2,
            "seed": 4,
            "condition": {
                "c": partial,
                "u": u_value,
                "h": h_value,
                "d": F.one_hot(torch.tensor([0, 3, 1]), 4).float(),
            },
        },
        {"chains": chains, "sweeps": 2, "seed": 5, "sampler": "lambda"},
        {
            "chains": 2,
            "sweeps": 2,
            "seed": 6,
            "sampler": "lambda",
            "condition": {
                "b": torch.tensor([1.0, 0.0, 1.0]),
                "r": (torch.zeros(2), torch.tensor([True, True])),
            },
        },
    ]


def _spec_cases(program) -> list[dict]:
    """Two chains, two sweeps: unconditioned, with the first discrete variable clamped (the
    first variable when none is discrete), and with the data statistics the data-based inits
    read (those of a random batch)."""
    clamped = next((v for v in program.variables if v.kind != "real"), program.variables[0])
    value = torch.zeros(clamped.shape)
    if clamped.kind == "categorical":
        value = F.one_hot(value.long(), clamped.categories).float()
    batch = random_values(program, 8, torch.Generator().manual_seed(3))
    stats = {}
    for variable in program.variables:
        data = batch[variable.name]
        if variable.kind == "real":
            stats[variable.name] = {
                "min": data.amin(0),
                "max": data.amax(0),
                "mean": data.mean(0),
                "std": data.std(0),
            }
        elif variable.kind == "categorical":
            stats[variable.name] = {"freq": (data.mean(0) + 0.1) / (1 + 0.1 * data.shape[-1])}
    return [
        {"chains": 2, "sweeps": 2, "seed": 1},
        {"chains": 2, "sweeps": 1, "seed": 2, "condition": {clamped.name: value}},
        {"chains": 2, "sweeps": 1, "seed": 3, "stats": stats},
    ]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_paper_spec_samples_the_same_numbers(spec, tmp_path):
    program = compile_file(spec)
    cases = _spec_cases(program)
    result = compare_sampling(program, tmp_path, cases, spec_name=spec.name)
    for expected, actual in zip(result.expected, result.actual, strict=True):
        assert_same_chains(expected, actual)
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(result.source).body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", None) in ("SAMPLERS", "DEFAULT_SAMPLER")
    }
    assert constants["DEFAULT_SAMPLER"] == sampling.default_sampler(program)
    assert constants["SAMPLERS"] == {s.name: sampling.sampler_table(s) for s in program.samplers}


MAIN_CHAINS = 4
MAIN_ARGV = ["--parameters", "{parameters}", "-n", str(MAIN_CHAINS), "--steps", "2", "--seed", "9"]
MAIN_ARGV += ["--condition", "k=2", "--condition", "w=[0.5, -1]", "--condition", "b=[1, 1, 1]"]
MAIN_ARGV += ["--sampler", "lambda", "--output", "samples.pt"]


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """MIXED sampled in process and in one fresh interpreter: every case of `_mixed_cases`, then
    `main` with MAIN_ARGV (its samples land in samples.pt beside the module)."""
    work = tmp_path_factory.mktemp("mixed_run")
    spec = work / "mixed.ebm"
    spec.write_text(MIXED, encoding="utf-8")
    program = compile_file(spec)
    result = compare_sampling(
        program, work, _mixed_cases(), spec_name=spec.name, main_argv=MAIN_ARGV
    )
    return program, result, work / "samples.pt"


def test_every_kernel_samples_the_same_numbers(mixed_run):
    program, result, _ = mixed_run
    used = {b.kernel.name for s in program.samplers for b in s.blocks}
    assert used == KERNELS
    cases = _mixed_cases()
    assert len(result.actual) == len(cases)
    for case, expected, actual in zip(cases, result.expected, result.actual, strict=True):
        assert_same_chains(expected, actual)
        # The chains moved (the comparison is not between two unchanged initial states) ...
        assert any(int(k[1].sum()) > 0 for k in expected["kernels"]), case
        # ... and clamped elements did not.
        for name, given in case.get("condition", {}).items():
            value, clamped = given if isinstance(given, tuple) else (given, None)
            got = expected["values"][name]
            value = value.expand_as(got)
            if clamped is None:
                assert torch.equal(got, value), name
            else:
                keep = clamped.reshape(clamped.shape + (1,) * (got.dim() - 1 - clamped.dim()))
                assert torch.equal(torch.where(keep, value, got), got), name
    # The summary of each run names every block that ran, with its acceptance rate.
    assert result.stdout.count("hmc(h): acceptance") == 4  # the default sampler and "every"
    assert "gibbs(b, c, d, e, k): acceptance 1.000" in result.stdout
    assert "(clamped)" in result.stdout


def test_main_samples_with_a_condition_and_clamps(mixed_run):
    """`python model.py --condition k=2 --condition 'w=[0.5, -1]' --condition 'b=[1, 1, 1]'
    --output ...` gives the chains `sample` gives in process for that condition, clamped, saved,
    summarised."""
    program, result, output = mixed_run
    saved = torch.load(output, weights_only=True)
    condition = {
        "k": F.one_hot(torch.tensor(2), 3).float(),
        "w": torch.tensor([0.5, -1.0]),
        "b": torch.ones(3),
    }
    model = lower_energy(program, seed=5).eval()  # the parameters compare_sampling saved
    state, _ = sampling.sample(
        program, model, MAIN_CHAINS, sweeps=2, seed=9, condition=condition, sampler="lambda"
    )
    assert_equal_tensors(state.point.values, saved)
    assert torch.equal(saved["k"].argmax(-1), torch.full((MAIN_CHAINS,), 2))
    assert torch.equal(saved["w"], torch.tensor([[0.5, -1.0]] * MAIN_CHAINS))
    assert torch.equal(saved["b"], torch.ones(MAIN_CHAINS, 3))
    out = result.main_stdout
    assert "sampler lambda: 4 chains, 2 sweeps" in out
    assert "k: counts per value [0, 0, 4] (clamped)" in out
    assert "b: counts per value [0, 12] (clamped)" in out
    assert "gibbs(c, d, e): acceptance 1.000" in out  # b and k are clamped, so they leave
    assert "w: mean -0.25, std " in out and "h: mean " in out
    assert "samples saved to samples.pt" in out


# Samplers named like Python keywords and dunders over variables named so, one block row too long
# for a line (the emitted table splits it the way `ruff format` does).
KEYWORD_SAMPLERS = """
sampler __import__ {
  init class ~ normal(std = 0.5)
  update class, torch with hmc(step = 0.05, leapfrog = 2)
  update self, sum, __import__ with gwg(flips = 2)
  sweeps = 2
}

sampler class {
  update __import__, self, batch, sum with gwg(temperature = 0.0625, flips = 10)
  update None, super, values, v_class with metropolis(scale = 0.2)
  update class, torch with mala(step = 0.01) repeat 2
}
"""


def test_keyword_names_sample_the_same_numbers(tmp_path):
    spec = tmp_path / "keywords.ebm"
    spec.write_text(KEYWORDS_SPEC + KEYWORD_SAMPLERS, encoding="utf-8")
    program = compile_file(spec)
    cases = [
        {"chains": 2, "seed": 1},
        {"chains": 2, "seed": 2, "sampler": "class", "condition": {"self": torch.eye(2)}},
    ]
    argv = ["-n", "3", "--steps", "1", "--sampler", "class", "--condition", "self=[1, 0]"]
    argv += ["--condition", "None=0.5", "--parameters", "{parameters}"]
    result = compare_sampling(program, tmp_path, cases, spec_name=spec.name, main_argv=argv)
    for expected, actual in zip(result.expected, result.actual, strict=True):
        assert_same_chains(expected, actual)
    assert 'DEFAULT_SAMPLER = "__import__"' in result.source
    assert '        "blocks": [\n            (\n                "gwg",\n' in result.source
    assert "sampler class: 3 chains, 1 sweeps" in result.main_stdout
    assert "self: counts per value [3, 3] (clamped)" in result.main_stdout
    assert "None: mean 0.5, std 0 (clamped)" in result.main_stdout
    assert "metropolis(super, values, v_class): acceptance" in result.main_stdout


@pytest.fixture(scope="module")
def mixed_module(tmp_path_factory):
    """The emitted module of MIXED, imported in this process (for its argument checks)."""
    folder = tmp_path_factory.mktemp("mixed")
    spec = folder / "mixed.ebm"
    spec.write_text(MIXED, encoding="utf-8")
    path = folder / "mixed_model.py"
    path.write_text(emit_python(compile_file(spec), spec.name), encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location("mixed_model", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["mixed_model"] = module
    try:
        module_spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["mixed_model"]


BAD_CONDITIONS = [
    ("nope=1", "--condition 'nope=1': unknown variable 'nope' (the variables: 'b', 'c',"),
    ("k=3", "error[E905]: `k` (categorical(3)) takes a category in [0, 3), found `3`"),
    ("k=-1", "error[E905]: `k` (categorical(3)) takes a category in [0, 3), found `-1`"),
    ("k=1.5", "error[E904]: expected a category in [0, 3) for `k`, found `1.5`"),
    ("b=[0, 2, 1]", "error[E905]: `b` (binary[3]) takes 0 or 1, found `2`"),
    ("c=[0, 1, 2]", "error[E906]: wrong shape for `c` (categorical(3)[2]): expected a list of 2"),
    ("c=1", "error[E906]: wrong shape for `c` (categorical(3)[2]): expected a list of 2"),
    ("h=[1, 2]", "found a list of shape [2] (help: give one number (used for every element)"),
    ("h=[[1, 2], [3]]", "error[E906]: ragged list: an item has shape [1], the first [2]"),
    ("r=3", "error[E905]: `r` must lie in [-2, 2], found `3` (help: write a number from -2 to 2)"),
    ("u=float", "--condition 'u=float': cannot read 'float' as a number or a list"),
    ("u='x'", "error[E904]: expected a number for `u`, found `'x'`"),
    ("u", "--condition expects NAME=VALUE, got 'u'"),
]


@pytest.mark.parametrize(("text", "message"), BAD_CONDITIONS, ids=[t for t, _ in BAD_CONDITIONS])
def test_main_rejects_a_bad_condition(mixed_module, capsys, text, message):
    with pytest.raises(SystemExit) as done:
        mixed_module.main(["--condition", text])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_main_rejects_an_unknown_sampler(mixed_module, capsys):
    with pytest.raises(SystemExit):
        mixed_module.main(["--sampler", "nope"])
    error = capsys.readouterr().err
    assert "unknown sampler 'nope' (the samplers: every, lambda, parallel, leap)" in error


def test_main_rejects_a_missing_run_or_a_bad_parameter_file(mixed_module, capsys, tmp_path):
    """A user's mistake in --run / --parameters ends in one usage line, not a traceback."""
    other = tmp_path / "other.safetensors"
    other.write_text("not a safetensors file")
    cases = [
        (["--run", str(tmp_path / "nope")], "not a run folder of `ebmspec train`"),
        (["--parameters", str(tmp_path / "nope.safetensors")], "no such file"),
        (["--parameters", str(other)], f"cannot load '{other}' into"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as done:
            mixed_module.main(argv)
        assert done.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_condition_value_codes_each_domain(mixed_module):
    value = mixed_module.condition_value
    assert torch.equal(value("k", 1), torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(value("c", [2, 0]), torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    assert torch.equal(value("b", [1, 0, True]), torch.tensor([1.0, 0.0, 1.0]))
    assert torch.equal(value("h", 0.5), torch.full((2, 2), 0.5))
    assert value("u", [1, 2, 3]).dtype == torch.float32


@pytest.mark.parametrize("text", ["k=3", "k=1.5", "b=[0, 2, 1]", "c=1", "r=3", "h=[1, 2]", 'u="x"'])
def test_emitted_and_cli_conditions_reject_with_the_same_words(mixed_module, text):
    """One implementation (runtime/sampling/clamping.py): the code, message and help of `ebmspec
    sample --condition` are those the emitted module prints."""
    name, _, literal = text.partition("=")
    with pytest.raises(ValueError) as emitted:
        mixed_module.condition_value(name, ast.literal_eval(literal))
    with pytest.raises(UserError) as cli:
        check_conditions(compile_spec(Source("mixed.ebm", MIXED)), [text])
    (diagnostic,) = cli.value.diagnostics
    expected = f"error[{diagnostic.code}]: {diagnostic.message} (help: {diagnostic.help})"
    if text == 'u="x"':  # the CLI reads a quoted string, the emitted module gets a Python str
        expected = expected.replace('the string "x"', "`'x'`")
    assert str(emitted.value) == expected
