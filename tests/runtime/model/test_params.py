"""`params { }` and table lookups: learned tensors are parameters and fixed ones buffers, with
the values their declarations give; `T[a, b]` and `T[y[:-1], y[1:]]` equal the sums written out;
the shipped CRF and inverse-Ising specs colour as their graphs do; `cll` learns a chain's
transitions from sequences of a known HMM."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ebmspec.api import compile_file, compile_spec
from ebmspec.runtime.model.energy import lower_energy
from ebmspec.source import Source
from tests.conftest import ROOT

PARAMS = """
model p "every kind of parameter"
variables {
  a : categorical(3)
  b : categorical(4)
  y : categorical(3)[5]
}
params {
  T[3, 4] = normal(std = 0.5)
  U[3, 3] = 0.25
  K = [[1, -1, 0], [0, 2, 1], [3, 0, -2]] fixed
  c = 0.5 fixed
  P[4, 3, 3] = normal(std = 1)
}
energy {
  return T[a, b] + sum(U[y[:-1], y[1:]]) + c * sum(K[y[1:], y[:-1]]) + sum(P[y[1:], y[:-1]])
}
"""


def _model(text: str = PARAMS, seed: int = 0):
    program = compile_spec(Source("p.ebm", text))
    return program, lower_energy(program, seed=seed)


def test_learned_params_are_parameters_fixed_ones_buffers():
    program, model = _model()
    learned = {name for name, _ in model.params.named_parameters()}
    fixed = {name for name, _ in model.params.named_buffers()}
    assert learned == {"T", "U", "P"} and fixed == {"K", "c"}
    assert set(model.state_dict()) >= {"params.T", "params.U", "params.K", "params.c"}
    assert torch.equal(
        model.params.get("K", 1)[0], torch.tensor([[1.0, -1, 0], [0, 2, 1], [3, 0, -2]])
    )
    assert torch.equal(model.params.get("U", 2), torch.full((2, 3, 3), 0.25))
    again = _model(seed=0)[1]
    other = _model(seed=1)[1]
    assert torch.equal(model.params.get("T", 1), again.params.get("T", 1))
    assert not torch.equal(model.params.get("T", 1), other.params.get("T", 1))
    assert model.parameter_counts()["T"] == 12


def test_lookups_equal_the_written_out_sums():
    _, model = _model()
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(0, 3, (7,), generator=g), torch.randint(0, 4, (7,), generator=g)
    y = torch.randint(0, 3, (7, 5), generator=g)
    values = {
        "a": F.one_hot(a, 3).float(),
        "b": F.one_hot(b, 4).float(),
        "y": F.one_hot(y, 3).float(),
    }
    T, U = model.params.get("T", 1)[0], model.params.get("U", 1)[0]
    K, P = model.params.get("K", 1)[0], model.params.get("P", 1)[0]
    expected = T[a, b] + U[y[:, :-1], y[:, 1:]].sum(1) + 0.5 * K[y[:, 1:], y[:, :-1]].sum(1)
    expected = expected + P[torch.arange(4), y[:, 1:], y[:, :-1]].sum(1)
    with torch.no_grad():
        assert torch.allclose(model(values), expected, atol=1e-5)
    # Differentiable in the codes (GWG and gradient-drawn Gibbs read it).
    codes = values["y"].clone().requires_grad_(True)
    model({**values, "y": codes}).sum().backward()
    assert codes.grad is not None and codes.grad.abs().sum() > 0


def test_shipped_crf_and_inverse_ising_colour_as_their_graphs():
    crf = compile_file(ROOT / "specs" / "crf.ebm")
    colouring = next(b.colouring for b in crf.sampler("chain").blocks if b.variables == ("y",))
    assert colouring.count == 2 and colouring.draw == "gradient"
    colours = colouring.colours  # alternating: the even and the odd positions
    assert all(colours[t] != colours[t + 1] for t in range(19))
    text = (ROOT / "specs" / "crf.ebm").read_text()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) <= 15
    inverse = (ROOT / "specs" / "inverse_ising.ebm").read_text()
    assert len([x for x in inverse.splitlines() if x.strip() and not x.startswith("#")]) <= 15


def test_cll_learns_the_transitions_of_the_hmm(tmp_path):
    """200 iterations of the shipped CRF on its HMM sequences: the learned transitions prefer to
    stay, as the HMM's do (0.8 on its diagonal), and Viterbi with the learned tables beats the
    best per-position guess from the symbol alone."""
    from ebmspec.runtime.data import load_dataset
    from ebmspec.runtime.data.encoding import encode
    from ebmspec.runtime.training.trainer import Trainer

    program = compile_file(ROOT / "specs" / "crf.ebm", None, ["train.iterations=200"])
    dataset = load_dataset(program, spec_dir=ROOT / "specs", seed=0)
    trainer = Trainer(program, dataset, tmp_path / "run", "cpu", monitor=None, evaluate=None)
    trainer.start(resume=False)
    trainer.run()
    T = trainer.model.params.get("T", 1)[0].detach()
    E = trainer.model.params.get("E", 1)[0].detach()
    off = T.masked_fill(torch.eye(3, dtype=torch.bool), -torch.inf)
    assert (T.diagonal() > off.max(1).values).all(), T
    test, _ = encode(trainer.table, dataset.test, trainer.pipelines, torch.Generator())
    x, y = test["x"].argmax(-1), test["y"].argmax(-1)
    from bench.crf import viterbi

    paths = torch.stack(
        [torch.as_tensor(viterbi(E[s].double().numpy(), T.double().numpy())) for s in x]
    )
    per_position = E.argmax(1)[x]
    assert (paths == y).float().mean() > (per_position == y).float().mean() + 0.03


def test_a_gaussian_with_a_learned_std_is_the_normal_log_density():
    import math

    text = """
model g "a learned std"
variables { x : real[3] }
params { log_s = 0.0 }
energy { return gaussian(x, mean = 1.0, std = exp(log_s)) }
"""
    program, model = _model(text)
    with torch.no_grad():
        model.params._parameters["log_s"].fill_(math.log(2.0))
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    expected = torch.distributions.Normal(1.0, 2.0).log_prob(x).sum(1)
    f = model({"x": x})
    assert torch.allclose(f, expected, atol=1e-5)
    f.sum().backward()  # the std is learned: its parameter gets a gradient
    assert model.params._parameters["log_s"].grad is not None
