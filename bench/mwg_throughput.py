"""Cached vs fused vs naive Metropolis-within-Gibbs sweeps on the dSprites network of paper 004.

In: `specs/dsprites_joint.ebm` (CNN h(x) + MLP on [h, onehot(x_pos), onehot(y_pos)]; sampler GWG on
the positions, then Langevin on the image) at initial weights. Out: per-variant ms/sweep and energy
passes per sweep, then `framework_overhead=` (ebmspec fused / a hand-written PyTorch loop of the
same fused sweep), `fused_vs_naive=` and, as the last lines, `cached_vs_fused=` and
`cached_vs_naive=` (sweeps per second of the cached sweep over the others').

Variants, timed interleaved in one run (median over repeats, after a warm-up), all from the same
initial state with their own generator in the same state, so they draw the same random numbers:

* ebmspec cached: the default: GWG evaluates h(x) and its share of the MLP's first layer once (the
  static part, passes/plan_cache.py) and both proposals by the MLP head alone; Langevin's gradient
  is one backward from the static part: 1 CNN forward + 1 CNN backward per sweep.
* ebmspec fused: `Schedule(fuse=True)`, no caching: 2 forward+backward passes per sweep.
* ebmspec naive: `Schedule(fuse=False)`: 3 passes (GWG at (x, y) and (x, y'), Langevin after).
* hand fused: plain PyTorch (an `nn.Sequential` pair with the weights copied, no ebmspec code) doing
  the fused sweep: the gradient w.r.t. x at the accepted GWG state is reused by Langevin.
* hand blockwise naive (informational): 3 passes, but each takes gradients only w.r.t. the block
  it serves; the positions enter the MLP only, so the two GWG passes skip the CNN's backward.

Every variant must draw the same chain: first on a sharpened network where GWG rejects about half
of its proposals (`--check` sweeps), then after the timed sweeps; the script stops if they differ,
so the ratios compare the same computation. Run: `python bench/mwg_throughput.py [--threads 2]`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, variable_table
from ebmspec.runtime.sampling import schedule
from ebmspec.runtime.sampling.kernels import Target
from ebmspec.runtime.sampling.sampler import default_sampler, sampler_table

SPEC = Path(__file__).resolve().parent.parent / "specs" / "dsprites_joint.ebm"


# ---- the hand-written loop: plain PyTorch, appendix B.3.2 of paper 004 -------------------------
def hand_network(model) -> tuple[nn.Sequential, nn.Sequential]:
    """The CNN and the MLP of appendix B.3.2 as plain `nn.Sequential`s, weights copied in."""
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, 1, 1),
        nn.SiLU(),
        nn.Conv2d(16, 32, 4, 2, 1),
        nn.SiLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.SiLU(),
        nn.Conv2d(64, 128, 4, 2, 1),
        nn.SiLU(),
        nn.Conv2d(128, 16, 1),
    )
    mlp = nn.Sequential(
        nn.Linear(288, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1)
    )
    cnn.load_state_dict(model.blocks["h"].net.state_dict())
    mlp.load_state_dict(model.blocks["return"].net.state_dict())
    return cnn, mlp


class HandSampler:
    """GWG on (x_pos, y_pos) with the reverse term, then Langevin on x, written out by hand.

    `fused`: reuse the gradient w.r.t. x of whichever GWG evaluation matches the accepted state
    (2 passes per sweep). Otherwise 3 passes; `blockwise` then takes each pass's gradients only
    w.r.t. the variables its block reads (the cheapest naive loop).
    """

    def __init__(self, cnn, mlp, temperature, step, noise, bounds, fused=True, blockwise=False):
        self.cnn, self.mlp = cnn, mlp
        self.temperature, self.step, self.noise = temperature, step, noise
        self.low, self.high = bounds  # x's declared range: Langevin clips into it, as the spec says
        self.fused, self.blockwise = fused, blockwise
        self.passes = 0

    def energy(self, x, xp, yp):
        features = self.cnn(x).flatten(1)
        return self.mlp(torch.cat([features, xp, yp], 1)).squeeze(-1)

    def evaluate(self, x, xp, yp, wrt_x=True, wrt_y=True):
        """f and its gradients w.r.t. x (or None) and the two codes (or None)."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(wrt_x)
            xp = xp.detach().requires_grad_(wrt_y)
            yp = yp.detach().requires_grad_(wrt_y)
            f = self.energy(x, xp, yp)
            inputs = ([x] if wrt_x else []) + ([xp, yp] if wrt_y else [])
            grads = list(torch.autograd.grad(f.sum(), inputs))
        self.passes += 1
        gx = grads.pop(0) if wrt_x else None
        return f.detach(), gx, (grads[0], grads[1]) if wrt_y else None

    def log_proposal(self, xp, yp, gy):
        """log q(. | y) over the 32 moves (16 x bins, then 16 y bins); staying put excluded."""
        scores = []
        for code, grad in zip((xp, yp), gy, strict=True):
            delta = grad - (code * grad).sum(-1, keepdim=True)
            scores.append(delta.masked_fill(code > 0.5, -torch.inf))
        return (torch.cat(scores, 1) / self.temperature).log_softmax(1)

    def sweep(self, chain, generator):
        """chain = (x, xp, yp, f, gx, gy) with f/gx/gy None when unknown; returns the next one."""
        x, xp, yp, f, gx, gy = chain
        naive_y = not self.fused and self.blockwise
        if f is None or not self.fused:
            f, gx, gy = self.evaluate(x, xp, yp, wrt_x=not naive_y)
        # GWG: one move drawn by Gumbel-max from q(. | y).
        log_q = self.log_proposal(xp, yp, gy)
        uniform = torch.rand((1, *log_q.shape), generator=generator).clamp_min(1e-20)
        move = (log_q - torch.log(-torch.log(uniform[0]))).argmax(-1)
        on_x = (move < 16).unsqueeze(1)
        target_code = F.one_hot(move, 32).to(xp.dtype)
        xp_new = torch.where(on_x, target_code[:, :16], xp)
        yp_new = torch.where(on_x, yp, target_code[:, 16:])
        f_new, gx_new, gy_new = self.evaluate(x, xp_new, yp_new, wrt_x=not naive_y)
        undo = torch.where(on_x[:, 0], xp.argmax(1), 16 + yp.argmax(1))
        log_q_back = self.log_proposal(xp_new, yp_new, gy_new)
        log_alpha = f_new - f - log_q.gather(1, move.unsqueeze(1)).squeeze(1)
        log_alpha = log_alpha + log_q_back.gather(1, undo.unsqueeze(1)).squeeze(1)
        u = torch.rand(log_alpha.shape, generator=generator)
        accept = torch.log(u) < torch.nan_to_num(log_alpha, nan=-torch.inf)
        keep = accept.unsqueeze(1)
        xp, yp = torch.where(keep, xp_new, xp), torch.where(keep, yp_new, yp)
        # Langevin on x: the gradient at the accepted state is known unless the loop is naive.
        if self.fused:
            gx = torch.where(keep.reshape(-1, 1, 1, 1), gx_new, gx)
        else:
            _, gx, _ = self.evaluate(x, xp, yp, wrt_y=not self.blockwise)
        xi = torch.randn(x.shape, generator=generator)
        x = (x + (self.step * gx + self.noise * xi)).clamp(self.low, self.high)
        return (x, xp, yp, None, None, None), accept


# ---- the variants -------------------------------------------------------------------------------
class EbmspecVariant:
    def __init__(self, model, variables, table, values, generator_state, fuse, cache=False):
        self.schedule = schedule.build_schedule(table["blocks"], variables, fuse=fuse)
        self.target = Target(model, variables, cache=cache)
        self.state = self.schedule.start({n: v.clone() for n, v in values.items()})
        self.generator = torch.Generator().set_state(generator_state)

    def run(self, sweeps):
        self.state = self.schedule.run(self.state, self.target, self.generator, sweeps)

    def values(self):
        return self.state.point.values

    def passes(self):
        # A cached sweep's energy work: its CNN forwards (one per static part evaluated).
        return self.target.passes + self.target.root_forwards

    def gwg_acceptance(self):
        kernel = self.state.kernels[0]
        return float(kernel.accepted.mean()) / max(kernel.steps, 1)


class HandVariant:
    def __init__(self, sampler, values, generator_state):
        self.sampler = sampler
        self.chain = (values["x"].clone(), values["x_pos"].clone(), values["y_pos"].clone())
        self.chain += (None, None, None)
        self.generator = torch.Generator().set_state(generator_state)
        self.accepted = torch.zeros(values["x"].shape[0])
        self.steps = 0

    def run(self, sweeps):
        for _ in range(sweeps):
            self.chain, accept = self.sampler.sweep(self.chain, self.generator)
            self.accepted += accept
            self.steps += 1

    def values(self):
        return dict(zip(("x", "x_pos", "y_pos"), self.chain[:3], strict=True))

    def passes(self):
        return self.sampler.passes

    def gwg_acceptance(self):
        return float(self.accepted.mean()) / max(self.steps, 1)


def build_variants(batch: int, seed: int, sharpen: float = 1.0) -> dict:
    """The four variants on the spec's network (seed 0), all at the same initial state and
    generator state. `sharpen` scales the first MLP weights on the one-hot positions: at initial
    weights GWG accepts almost every proposal, sharpened by 300 about half of them."""
    program = compile_file(SPEC)
    model = lower_energy(program, seed=0)
    with torch.no_grad():
        model.blocks["return"].net[0].weight[:, 256:] *= sharpen
    variables = variable_table(program)
    table = sampler_table(program.sampler(default_sampler(program)))
    (gwg, gwg_names, gwg_args, _), (langevin, x_names, langevin_args, _) = table["blocks"]
    assert (gwg, gwg_names, langevin, x_names) == ("gwg", ("x_pos", "y_pos"), "langevin", ("x",))
    generator = torch.Generator().manual_seed(seed)
    values = schedule.initial_values(table["inits"], variables, batch, generator)
    state = generator.get_state()
    cnn, mlp = hand_network(model)
    _, _, _, low, high = variables["x"]
    hyper = (gwg_args["temperature"], langevin_args["step"], langevin_args["noise"], (low, high))
    return {
        "ebmspec cached": EbmspecVariant(
            model, variables, table, values, state, fuse=True, cache=True
        ),
        "ebmspec fused": EbmspecVariant(model, variables, table, values, state, fuse=True),
        "ebmspec naive": EbmspecVariant(model, variables, table, values, state, fuse=False),
        "hand fused": HandVariant(HandSampler(cnn, mlp, *hyper), values, state),
        "hand blockwise naive": HandVariant(
            HandSampler(cnn, mlp, *hyper, fused=False, blockwise=True), values, state
        ),
    }


def largest_gap(variants: dict) -> float:
    """max |difference| between each variant's chain state and the ebmspec fused one."""
    reference = variants["ebmspec fused"].values()
    return max(
        (variant.values()[name] - value).abs().max().item()
        for variant in variants.values()
        for name, value in reference.items()
    )


def check_same_chain(batch: int, seed: int, sweeps: int) -> None:
    """Every variant must draw the same chain, rejections included: run them on a sharpened
    network, where GWG rejects about half of its proposals, and compare."""
    variants = build_variants(batch, seed, sharpen=300.0)
    for variant in variants.values():
        variant.run(sweeps)
    rates = {name: variant.gwg_acceptance() for name, variant in variants.items()}
    gap = largest_gap(variants)
    print(
        f"check: {sweeps} sweeps on a sharpened network, GWG acceptance "
        + ", ".join(f"{rate:.3f}" for rate in rates.values())
        + f"; max |state - ebmspec fused| {gap:.1e}"
    )
    if gap > 1e-6 or len(set(rates.values())) != 1:
        raise SystemExit(
            "the variants do not draw the same chain; the timings would compare apples and pears"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=100, help="chains per sweep (paper: 100)")
    parser.add_argument("--sweeps", type=int, default=1, help="sweeps per timed repeat")
    parser.add_argument("--repeats", type=int, default=50, help="timed repeats per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed sweeps per variant first")
    parser.add_argument("--check", type=int, default=10, help="sweeps of the same-chain check")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: elapsed time (the measure); cpu: this process's CPU time, which other "
        "processes on a shared machine disturb less (use with --threads 1)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"dSprites network of paper 004, batch {args.batch}, CPU, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    if args.check:
        check_same_chain(args.batch, args.seed, args.check)
    variants = build_variants(args.batch, args.seed)
    for variant in variants.values():
        variant.run(args.warmup)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    times: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    for repeat in range(args.repeats):
        # Short slots, rotated: a change of machine load hits every variant alike.
        shift = repeat % len(order)
        for name in order[shift:] + order[:shift]:
            start = clock()
            variants[name].run(args.sweeps)
            times[name].append((clock() - start) / args.sweeps)
    total = args.warmup + args.repeats * args.sweeps
    median = {name: statistics.median(spent) for name, spent in times.items()}
    print(
        f"median {args.clock} time of {args.repeats} repeats x {args.sweeps} sweeps "
        f"(interleaved), after {args.warmup} warm-up sweeps"
    )
    for name, variant in variants.items():
        print(
            f"{name:<21} {median[name] * 1e3:8.2f} ms/sweep  "
            f"{variant.passes() / total:.2f} CNN forwards/sweep  "
            f"GWG acceptance {variant.gwg_acceptance():.3f}"
        )
    print(
        f"same chain after {total} sweeps: max |state - ebmspec fused| {largest_gap(variants):.1e}"
    )
    print(f"framework_overhead={median['ebmspec fused'] / median['hand fused']:.3f}")
    blockwise = median["hand blockwise naive"] / median["ebmspec fused"]
    print(f"info: fused_vs_blockwise_naive={blockwise:.3f}")
    print(f"fused_vs_naive={median['ebmspec naive'] / median['ebmspec fused']:.3f}")
    print(f"cached_vs_fused={median['ebmspec fused'] / median['ebmspec cached']:.3f}")
    print(f"cached_vs_naive={median['ebmspec naive'] / median['ebmspec cached']:.3f}")


if __name__ == "__main__":
    main()
