"""The data term with latent variables against closed forms: on a tiny RBM the exact free energy
and its gradient equal the enumeration of the joint (site by site and jointly), the clamped-chain
estimate agrees with them within Monte-Carlo error, block Gibbs draws the exact conditional, and
the persistent latent chains survive a checkpoint."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch

from ebmspec import energy_facts
from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.model.enumeration import free_energy
from ebmspec.runtime.sampling.sampler import sampler_table
from ebmspec.runtime.training.negatives import impute
from tests.runtime.sampling.ground_truth import iid_floor, total_variation

RBM = """
model tiny "a 4 x 3 RBM with a categorical latent beside"
data csv(file = "rows.csv")
variables {
  v : binary[4]
  h : binary[3] latent
  k : categorical(3) latent
}
energy { return bilinear(v, h) + linear(h) + linear(v) + bilinear(v, onehot(k)) }
sampler s { update h, k with block_gibbs; update v with block_gibbs }
train { objective = pcd(steps = 1); iterations = 5; batch = 8 }
"""


def _program(tmp_path: Path, text: str = RBM):
    (tmp_path / "rows.csv").write_text(
        "v0,v1,v2,v3\n"
        + "\n".join(",".join(str((i >> j) & 1) for j in range(4)) for i in range(16))
    )
    path = tmp_path / "spec.ebm"
    path.write_text(text)
    return compile_file(path)


def _model(program, dtype=torch.float64):
    torch.manual_seed(0)
    model = lower_energy(program).to(dtype)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn_like(parameter))
    return model


def _visible(count=6, dtype=torch.float64):
    return torch.randint(0, 2, (count, 4), generator=torch.Generator().manual_seed(1)).to(dtype)


def _enumerated(model, v):
    """log sum_{h, k} exp f(v, h, k) by an explicit loop over the 8 x 3 joint values."""
    terms = []
    for bits in itertools.product((0.0, 1.0), repeat=3):
        for k in range(3):
            h = torch.tensor(bits, dtype=v.dtype).expand(len(v), 3)
            hot = torch.eye(3, dtype=v.dtype)[k].expand(len(v), 3)
            terms.append(model({"v": v, "h": h, "k": hot}))
    return torch.logsumexp(torch.stack(terms, 1), 1)


def _grads(model, value):
    return torch.cat([g.flatten() for g in torch.autograd.grad(value, list(model.parameters()))])


def test_the_energy_is_separable_in_the_latents_and_not_through_a_nonlinearity(tmp_path):
    program = _program(tmp_path)
    assert energy_facts.separable(program.energy, ("h", "k"))
    assert energy_facts.separable(program.energy, ("v",))
    per_site = RBM.replace("h, k with block_gibbs", "h, k with gibbs")
    coupled = per_site.replace("linear(h) +", "linear(h) + mlp(h, hidden = [2]) +")
    assert not energy_facts.separable(_program(tmp_path, coupled).energy, ("h", "k"))
    product = per_site.replace("linear(h) +", "linear(h) * linear(h) +")
    assert not energy_facts.separable(_program(tmp_path, product).energy, ("h",))


@pytest.mark.parametrize("separable", [True, False])
def test_free_energy_and_its_gradient_equal_the_enumerated_joint(tmp_path, separable):
    program = _program(tmp_path)
    model = _model(program)
    table = variable_table(program)
    v = _visible()
    exact = _enumerated(model, v)
    free = free_energy(model, {"v": v}, table, (), ("h", "k"), separable)[:, 0]
    assert torch.allclose(free, exact, atol=1e-9)
    assert torch.allclose(_grads(model, free.mean()), _grads(model, exact.mean()), atol=1e-6)


def test_chain_estimate_matches_the_exact_gradient_and_treating_latents_as_dropped_does_not(
    tmp_path,
):
    """E_{p(h, k | v)} grad f(v, h, k), from one block-Gibbs draw per chain of 4000 chains per
    example, within 5 standard errors of grad F(v); h = 0 and k = 0 (latents dropped) or the
    latents drawn from their init distribution (treated as observed noise) are far off."""
    program = _program(tmp_path)
    model = _model(program, torch.float32)
    table = variable_table(program)
    sampler = sampler_table(program.sampler("s"))
    v = _visible(2, torch.float32)
    chains = 4000
    values = {"v": v.repeat_interleave(chains, 0)}
    drawn = impute(model, sampler, table, values, {}, 3, torch.Generator().manual_seed(5), None)
    assert set(drawn) == {"v", "h", "k"} and torch.equal(drawn["v"], values["v"])
    exact = _grads(model, _enumerated(model, v).sum())
    per_chain = torch.stack(
        [_grads(model, model({n: t[i : i + 1] for n, t in drawn.items()}).sum())
         for i in range(0, 2 * chains, 10)]
    )  # fmt: skip
    f = model(drawn)
    estimate = _grads(model, f.reshape(2, chains).mean(1).sum())
    # standard error of the 2-example sum; parameters whose gradient no latent changes (the
    # visible bias) have none, and agree to float32 rounding
    spread = per_chain.std(0) * math.sqrt(2) / math.sqrt(chains)
    assert ((estimate - exact).abs() <= 5 * spread + 1e-4).all()
    dropped = {"v": v, "h": torch.zeros(2, 3), "k": torch.eye(3)[[0, 0]]}
    wrong = _grads(model, model(dropped).sum())
    assert ((wrong - exact).abs() > 20 * spread + 1e-4).any()


def test_block_gibbs_draws_the_exact_conditional_of_every_site(tmp_path):
    program = _program(tmp_path)
    model = _model(program, torch.float32)
    table = variable_table(program)
    sampler = sampler_table(program.sampler("s"))
    v = _visible(1, torch.float32)
    chains = 20000
    values = {"v": v.expand(chains, 4)}
    drawn = impute(model, sampler, table, values, {}, 1, torch.Generator().manual_seed(6), None)
    # p(h, k | v) by enumeration, compared on the marginals of every site
    joint = []
    for bits in itertools.product((0.0, 1.0), repeat=3):
        for k in range(3):
            hot = torch.eye(3)[k][None]
            with torch.no_grad():
                f = model({"v": v, "h": torch.tensor([bits]), "k": hot})
            joint.append(((bits, k), float(f)))
    weights = torch.softmax(torch.tensor([f for _, f in joint]), 0)
    for site in range(3):
        exact = sum(w for ((bits, _), _), w in zip(joint, weights, strict=True) if bits[site])
        assert abs(float(drawn["h"][:, site].mean()) - float(exact)) < 4 * math.sqrt(0.25 / chains)
    for k in range(3):
        exact = sum(w for ((_, kk), _), w in zip(joint, weights, strict=True) if kk == k)
        assert abs(float(drawn["k"][:, k].mean()) - float(exact)) < 4 * math.sqrt(0.25 / chains)


def test_alternating_block_gibbs_samples_the_exact_joint(tmp_path):
    """20,000 chains of 30 sweeps (block Gibbs on h and k, then on v) against p(v, h, k) over
    its 384 cells: the total variation is at most 1.5 x the i.i.d. floor (the mean TV of 5
    i.i.d. samples of the same size from the exact law), as in the kernel exactness suite."""
    from ebmspec.runtime.sampling.schedule import run_conditioned

    program = _program(tmp_path)
    model = _model(program, torch.float32)
    table = variable_table(program)
    sampler = sampler_table(program.sampler("s"))
    chains = 20000
    with torch.no_grad():
        state, _ = run_conditioned(
            model, table, sampler, chains, torch.Generator().manual_seed(7), 30
        )
    values = state.point.values
    weights = torch.tensor([2**i for i in range(4)] + [2 ** (4 + i) for i in range(3)])
    cell = (torch.cat([values["v"], values["h"]], 1).long() * weights).sum(1)
    cell = cell * 3 + values["k"].argmax(-1)
    counts = torch.bincount(cell, minlength=384).numpy()[None]
    bits = ((torch.arange(128)[:, None] >> torch.arange(7)) & 1).float()
    every = {"v": bits[:, :4].repeat_interleave(3, 0), "h": bits[:, 4:].repeat_interleave(3, 0),
             "k": torch.eye(3).repeat(128, 1)}  # fmt: skip
    with torch.no_grad():
        exact = torch.softmax(model(every).double(), 0).numpy()[None]
    tv, floor = total_variation(counts, exact), iid_floor(exact, chains, seed=8, draws=5)
    assert tv <= 1.5 * floor, (tv, floor)


def test_persistent_latent_chains_refuse_several_processes(tmp_path):
    from types import SimpleNamespace

    from ebmspec.runtime.training.distributed import Ranks, ShardingError
    from ebmspec.runtime.training.latents import LatentTerm

    program = _program(tmp_path)
    trainer = SimpleNamespace(program=program, table=variable_table(program))
    trainer.ranks = Ranks(0, 2, (0,), 2)
    with pytest.raises(ShardingError, match="persistent latent chains live in one process"):
        LatentTerm(trainer, "persistent")
    assert LatentTerm(trainer, "fresh").mode == "fresh"
    trainer.ranks = Ranks.all_shares(2)  # several shares in one process: one table of chains
    assert LatentTerm(trainer, "persistent").mode == "persistent"
