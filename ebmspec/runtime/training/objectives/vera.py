"""VERA (`vera`, paper 001; docs/design/ALGORITHMS.md 4): an entropy-regularised generator trained
beside the energy, whose samples are the negatives - no MCMC in training.

In: the variable table, the `vera(...)` objective's arguments, the device and the trainer's chain
generator (every random number comes from it, so a resumed run continues bit for bit). Out:
`VeraGenerator`,
holding the generator q(x | z) = N(g(z), sigma^2 I) (g an MLP from `latent` N(0, I) inputs through
`hidden` softplus layers to every element of the real variables), log sigma (learned, clamped to
[0.01, 0.3] after every step), the posterior scale eta of xi(z | z0) = N(z0, diag(eta^2)), and
their two Adam optimizers (the generator's with betas (0, 0.9), as the paper's; eta's with the
defaults). Per iteration the trainer

1. draws x_g = g(z0) + sigma * eps (`draw`) and trains the energy on data against x_g (detached,
   `vera_energy_loss`; F marginalises the labels, so missing ones need no imputation);
2. `posterior_step`: one reparameterised z ~ xi(. | z0) and a step of eta on -ELBO =
   -(log N(z; 0, I) + log N(x_g; g(z), sigma^2 I) + H(xi));
3. `generator_step` with the updated energy F: the score of q at x_g estimated by `importance`
   self-normalised samples z_i ~ xi(. | z0), w_i = softmax(log N(z_i; 0, I) + log N(x_g; g(z_i),
   sigma^2 I) - log xi(z_i | z0)), s = sum_i w_i (g(z_i) - x_g) / sigma^2; the entropy surrogate
   H = mean sum(-s.detach() * x_g), whose gradient is that of the entropy of q; the loss
   -(mean F(x_g) + entropy_weight * H) steps g and sigma.
"""

from __future__ import annotations

import math

import torch

from ebmspec.runtime.io import checkpoint as ckpt
from ebmspec.runtime.model.blocks.mlp import MLP
from ebmspec.runtime.model.enumeration import label_log_likelihood, marginal_energy
from ebmspec.runtime.seeding import stream_seed
from ebmspec.runtime.training.objectives.base import (
    Objective,
    gradient_penalty,
    penalty_inputs,
    semi_supervised_terms,
)
from ebmspec.semantic.registry.signatures import Param as P
from ebmspec.semantic.registry.signatures import Signature

SIGNATURE = Signature(
    "vera",
    (
        P("latent", "posint", 128),
        P("hidden", "posints", (500, 500, 500)),
        P("entropy_weight", "nonneg_float", 1e-4),
        P("generator_lr", "posfloat", 6e-5),
        P("posterior_lr", "posfloat", 3e-5),
        P("importance", "posint", 20),
        P("alpha", "nonneg_float", 0.0),
        P("label", "variable?", None),
    ),
    "VERA (paper 001): negatives from a generator N(g(z), sigma^2 I) (g: an MLP latent -> "
    "hidden -> the real variables) trained to maximise mean F(x_g) + entropy_weight * its "
    "entropy (importance-sampled score estimate); F marginalises the labels; `alpha` adds "
    "alpha * log p(y|x). No MCMC",
)

SIGMA_MIN, SIGMA_MAX = 0.01, 0.3
ETA_INIT = 0.1


def log_normal(x: torch.Tensor, mean, std) -> torch.Tensor:
    """sum over the last axis of log N(x; mean, std^2) (std a scalar tensor or a vector)."""
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device)
    z = (x - mean) / std
    return (-0.5 * z.pow(2) - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


class VeraGenerator:
    """The generator, sigma, eta and their optimizers of one `vera` run."""

    def __init__(self, table: dict, reals, args: dict, device, seed: int):
        self.shapes = {name: tuple(table[name].shape) for name in reals}
        self.dim = sum(math.prod(shape) for shape in self.shapes.values())
        self.latent = int(args["latent"])
        self.entropy_weight = float(args["entropy_weight"])
        self.importance = int(args["importance"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(seed, "generator_init"))
            self.net = MLP(self.latent, list(args["hidden"]), self.dim, "softplus").to(device)
        self.log_sigma = torch.nn.Parameter(torch.full((), math.log(SIGMA_MIN), device=device))
        self.log_eta = torch.nn.Parameter(
            torch.full((self.latent,), math.log(ETA_INIT), device=device)
        )
        self.generator_optimizer = torch.optim.Adam(
            [*self.net.parameters(), self.log_sigma],
            lr=float(args["generator_lr"]),
            betas=(0.0, 0.9),
        )
        self.posterior_optimizer = torch.optim.Adam([self.log_eta], lr=float(args["posterior_lr"]))

    @property
    def sigma(self) -> torch.Tensor:
        return self.log_sigma.exp()

    def values(self, flat: torch.Tensor) -> dict:
        """[B, dim] -> {real variable: [B, *shape]}."""
        out, start = {}, 0
        for name, shape in self.shapes.items():
            size = math.prod(shape)
            out[name] = flat[:, start : start + size].reshape(flat.shape[0], *shape)
            start += size
        return out

    def draw(self, batch: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """x_g = g(z0) + sigma * eps (reparameterised: differentiable in g and sigma) and z0."""
        device = self.log_sigma.device
        z0 = torch.randn(batch, self.latent, generator=generator, device=device)
        noise = torch.randn(batch, self.dim, generator=generator, device=device)
        return self.net(z0) + self.sigma * noise, z0

    def posterior_step(self, x: torch.Tensor, z0: torch.Tensor, generator) -> None:
        """One step of eta on -ELBO (x detached; the generator's gradients are not kept)."""
        eta = self.log_eta.exp()
        noise = torch.randn(z0.shape, generator=generator, device=z0.device)
        z = z0 + eta * noise
        elbo = log_normal(z, 0.0, 1.0) + log_normal(x.detach(), self.net(z), self.sigma.detach())
        elbo = elbo + self.log_eta.sum()  # H(xi) up to a constant
        self.posterior_optimizer.zero_grad(set_to_none=True)
        (-elbo.mean()).backward(inputs=[self.log_eta])
        self.posterior_optimizer.step()

    def score(self, x: torch.Tensor, z0: torch.Tensor, generator) -> torch.Tensor:
        """The self-normalised importance estimate of grad_x log q(x) at x [B, dim]."""
        with torch.no_grad():
            eta, sigma = self.log_eta.exp(), self.sigma
            noise = torch.randn(self.importance, *z0.shape, generator=generator, device=z0.device)
            z = z0.unsqueeze(0) + eta * noise  # [k, B, latent]
            means = self.net(z.reshape(-1, self.latent)).reshape(self.importance, *x.shape)
            log_w = (
                log_normal(z, 0.0, 1.0)
                + log_normal(x.unsqueeze(0), means, sigma)
                - log_normal(z, z0.unsqueeze(0), eta)
            )
            weights = torch.softmax(log_w, 0).unsqueeze(-1)  # [k, B, 1]
            return (weights * (means - x.unsqueeze(0))).sum(0) / sigma**2

    def generator_step(self, energy_of, x: torch.Tensor, z0: torch.Tensor, generator) -> dict:
        """One step of g and sigma on -(mean F(x) + entropy_weight * H) with the updated energy
        `energy_of`; returns the entropy surrogate and sigma for the log."""
        score = self.score(x.detach(), z0, generator)
        entropy = (-score * x).sum(1).mean()
        loss = -(energy_of(self.values(x)).mean() + self.entropy_weight * entropy)
        self.generator_optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=[*self.net.parameters(), self.log_sigma])
        self.generator_optimizer.step()
        with torch.no_grad():
            self.log_sigma.clamp_(math.log(SIGMA_MIN), math.log(SIGMA_MAX))
        return {"gen_entropy": entropy.detach(), "gen_sigma": self.sigma.detach()}

    # ---- checkpoints ------------------------------------------------------------------------
    def state(self) -> tuple[dict, dict]:
        """Tensors (weights, sigma, eta, both optimizers) and the optimizers' JSON groups."""
        tensors = ckpt.with_prefix("net", self.net.state_dict())
        tensors["log_sigma"] = self.log_sigma.detach()
        tensors["log_eta"] = self.log_eta.detach()
        generator, generator_groups = ckpt.optimizer_tensors(self.generator_optimizer)
        posterior, posterior_groups = ckpt.optimizer_tensors(self.posterior_optimizer)
        tensors.update(ckpt.with_prefix("generator_optim", generator))
        tensors.update(ckpt.with_prefix("posterior_optim", posterior))
        return tensors, {"generator": generator_groups, "posterior": posterior_groups}

    def restore(self, tensors: dict, groups: dict) -> None:
        self.net.load_state_dict(ckpt.under("net", tensors))
        with torch.no_grad():
            self.log_sigma.copy_(tensors["log_sigma"])
            self.log_eta.copy_(tensors["log_eta"])
        ckpt.restore_optimizer(
            self.generator_optimizer, ckpt.under("generator_optim", tensors), groups["generator"]
        )
        ckpt.restore_optimizer(
            self.posterior_optimizer, ckpt.under("posterior_optim", tensors), groups["posterior"]
        )


def vera_energy_loss(
    model,
    positive: dict,
    negative: dict,
    variables: dict,
    alpha: float = 0.0,
    labels=(),
    observed: dict | None = None,
    energy_l2: float = 0.0,
    grad_penalty: float = 0.0,
):
    """VERA's energy step (paper 001; docs/design/ALGORITHMS.md 4.2): -(mean F(data) - mean
    F(x_g)) + grad_penalty * mean 1/2 |grad_x F(data)|^2 + energy_l2 (mean F+^2 + mean F-^2)
    [+ alpha * the exact label cross-entropy], F = log p~(x) marginalised over every discrete
    variable, x_g the generator's samples (`negative`, real variables only, detached).
    Returns (loss, mean F on data, mean F on samples)."""
    hidden = tuple(n for n, v in variables.items() if v.kind != "real")
    data = {n: v for n, v in positive.items() if n not in hidden}
    data, reals = penalty_inputs(data, variables, grad_penalty)
    f_pos = marginal_energy(model, data, variables, hidden)
    f_neg = marginal_energy(model, negative, variables, hidden)
    loss = -(f_pos.mean() - f_neg.mean())
    if energy_l2 > 0:
        loss = loss + energy_l2 * (f_pos.pow(2).mean() + f_neg.pow(2).mean())
    if grad_penalty > 0:
        loss = loss + grad_penalty * gradient_penalty(f_pos, data, reals)
    if alpha > 0 and labels:
        log_py = label_log_likelihood(model, positive, variables, labels, observed or {})
        if log_py.numel():
            loss = loss + alpha * (-log_py.mean())
    return loss, f_pos.detach().mean(), f_neg.detach().mean()


class VeraObjective(Objective):
    name = "vera"

    def __init__(self, trainer) -> None:
        super().__init__(trainer)
        table = trainer.table
        reals = [n for n, v in table.items() if v.kind == "real"]
        self.generator = VeraGenerator(table, reals, self.args, trainer.device, trainer.s.seed)

    def step(self, trainer, positive: dict, observed: dict) -> dict | None:
        """The energy step against the generator's samples (plus the semi-supervised terms),
        then eta's and the generator's."""
        s, model, table = trainer.s, trainer.model, trainer.table
        extra = None
        if trainer.labelled is not None:
            observed, extra = semi_supervised_terms(trainer, positive)
        x_g, z0 = self.generator.draw(s.batch, trainer.chain_gen)
        negative = self.generator.values(x_g.detach())
        loss, f_pos, f_neg = vera_energy_loss(
            model, positive, negative, table, s.alpha, s.labels, observed, s.energy_l2,
            s.grad_penalty,
        )  # fmt: skip
        loss = loss if extra is None else extra(loss)
        metrics = trainer.apply(loss, {"f_data": f_pos, "f_samples": f_neg}, [])
        if metrics is None:
            return None
        self.generator.posterior_step(x_g, z0, trainer.chain_gen)
        hidden = tuple(n for n, v in table.items() if v.kind != "real")

        def energy_of(values: dict) -> torch.Tensor:
            return marginal_energy(model, values, table, hidden)

        metrics.update(self.generator.generator_step(energy_of, x_g, z0, trainer.chain_gen))
        return metrics

    def state(self) -> tuple[dict, dict]:
        return self.generator.state()

    def restore(self, tensors: dict, groups) -> None:
        self.generator.restore(tensors, groups)
