"""Benchmark Extropic's ``thrml`` (block Gibbs on JAX) on a 2-D periodic Ising model.

p(z) ∝ exp(J * sum_<ij> z_i z_j), z in {-1,+1}^(L*L), L x L torus, no field. Sampling uses
thrml's own machinery: ``thrml.models.IsingEBM`` + ``IsingSamplingProgram`` with a two-colour
checkerboard (two free ``thrml.Block``s) and ``thrml.sample_with_observation`` (with a
``thrml.StateObserver`` subclass recording every sweep of the last half), vmapped over chains.

Run: ``OMP_NUM_THREADS=1 python bench/thrml_ising.py`` (needs ``pip install thrml``).
"""

from __future__ import annotations

import time

import numpy as np

ONSAGER_JC = 0.5 * np.log(1.0 + np.sqrt(2.0))  # 0.4407


def thrml_ising(
    L: int, J: float, chains: int, sweeps: int, seed: int = 0, cold_start: bool = False
) -> dict:
    """Sample ``chains`` independent chains for ``sweeps`` full checkerboard sweeps.

    Returns sweeps_per_s (chains * sweeps / wall seconds, compilation excluded), energy_per_site
    (mean over chains and the last half of sweeps of sum_<ij> z_i z_j / L^2, i.e. 2 <z_i z_j>),
    abs_m (mean |sum z| / L^2 over the same samples), seconds (timed wall time), plus
    *_sem (standard errors across independent chains) and compile_s (XLA compile only).
    ``cold_start`` starts every chain from all +1 instead of thrml's ``hinton_init`` (which, with
    zero field, is uniform random spins).
    """
    try:
        import jax
        import jax.numpy as jnp
        import thrml
        from thrml.models import IsingEBM, IsingSamplingProgram, hinton_init
    except ImportError as exc:  # pragma: no cover - depends on optional package
        raise ImportError("thrml_ising needs thrml (and JAX): `pip install thrml`") from exc
    if L % 2 or L < 4:
        raise ValueError("checkerboard on a torus needs an even L >= 4")
    if sweeps < 2:
        raise ValueError("sweeps must be >= 2")

    nodes = [thrml.SpinNode() for _ in range(L * L)]  # row-major: site (r, c) -> r * L + c
    edges = []
    for r in range(L):
        for c in range(L):
            edges.append((nodes[r * L + c], nodes[r * L + (c + 1) % L]))
            edges.append((nodes[r * L + c], nodes[((r + 1) % L) * L + c]))
    # IsingEBM energy is -beta * (sum b s + sum w s s); with beta = 1, w = J this is our p(z).
    model = IsingEBM(
        nodes, edges, jnp.zeros(L * L), jnp.full(len(edges), J, jnp.float32), jnp.array(1.0)
    )
    colour = [(i // L + i % L) % 2 for i in range(L * L)]
    free_blocks = [
        thrml.Block([n for n, k in zip(nodes, colour, strict=True) if k == col]) for col in (0, 1)
    ]
    program = IsingSamplingProgram(model, free_blocks, clamped_blocks=[])
    # One "step" of thrml's schedule = one sweep over both colours. sample_with_observation records
    # after n_warmup sweeps and then after every further step, so n_warmup = sweeps - n_keep + 1
    # makes the n_keep recorded states exactly those after sweeps sweeps - n_keep + 1 .. sweeps.
    n_keep = sweeps // 2
    schedule = thrml.SamplingSchedule(
        n_warmup=sweeps - n_keep + 1, n_samples=n_keep, steps_per_sample=1
    )

    class IsingObserver(thrml.StateObserver):
        """thrml's StateObserver, reduced on the fly to (bond sum / L^2, |m|) per recorded sweep
        so memory is O(chains * sweeps) rather than O(chains * sweeps * L^2)."""

        def __call__(self, program, state_free, state_clamped, carry, iteration):
            carry, (z,) = super().__call__(program, state_free, state_clamped, carry, iteration)
            z = (2 * z.astype(jnp.int8) - 1).astype(jnp.float32).reshape(L, L)
            bonds = z * (jnp.roll(z, 1, axis=-1) + jnp.roll(z, 1, axis=-2))
            return carry, (bonds.sum() / L**2, jnp.abs(z.sum()) / L**2)

    observer = IsingObserver([thrml.Block(nodes)])

    def one_chain(key, init_state):
        return thrml.sample_with_observation(
            key, program, schedule, init_state, [], observer.init(), observer
        )[1]

    @jax.jit
    def run(key):
        k_init, k_samp = jax.random.split(key)
        if cold_start:
            init = [jnp.ones((chains, len(b)), jnp.bool_) for b in free_blocks]
        else:
            init = hinton_init(k_init, model, free_blocks, (chains,))
        return jax.vmap(one_chain)(jax.random.split(k_samp, chains), init)  # 2 x (chains, keep)

    key = jax.random.key(seed)
    t0 = time.perf_counter()
    run = run.lower(key).compile()
    compile_s = time.perf_counter() - t0
    jax.block_until_ready(run(jax.random.fold_in(key, 1)))  # warm-up call, same shapes
    t0 = time.perf_counter()
    e, m = jax.block_until_ready(run(key))
    seconds = time.perf_counter() - t0
    return {
        "sweeps_per_s": chains * sweeps / seconds,
        "energy_per_site": float(e.mean()),
        "energy_per_site_sem": float(e.mean(1).std(ddof=1) / np.sqrt(chains)),
        "abs_m": float(m.mean()),
        "abs_m_sem": float(m.mean(1).std(ddof=1) / np.sqrt(chains)),
        "seconds": seconds,
        "compile_s": compile_s,
    }


def onsager(J: float) -> tuple[float, float]:
    """Exact infinite-lattice (2 <z_i z_j>, spontaneous |m|) from Onsager's free energy."""
    n = 1024
    c = np.cos((np.arange(n) + 0.5) * 2 * np.pi / n)
    c = c[:, None] + c[None, :]
    # d/dK of 0.5 * mean(log(cosh(2K)^2 - sinh(2K) (cos a + cos b))) = 2 <z_i z_j>
    num = 2 * np.cosh(2 * J) * np.sinh(2 * J) * 2 - 2 * np.cosh(2 * J) * c
    bond = 0.5 * np.mean(num / (np.cosh(2 * J) ** 2 - np.sinh(2 * J) * c))
    mag = (1 - np.sinh(2 * J) ** -4) ** 0.125 if J > ONSAGER_JC else 0.0
    return float(bond), float(mag)


if __name__ == "__main__":
    import thrml

    print(f"thrml_version={thrml.__version__}")
    L, chains, sweeps = 32, 32, 200
    for J in (0.3, 0.5):
        out = thrml_ising(L, J, chains, sweeps, cold_start=J > ONSAGER_JC)
        bond, mag = onsager(J)
        for k, v in out.items():
            print(f"thrml_{k}_J{J}={v:.6g}")
        print(f"onsager_energy_per_site_J{J}={bond:.6g}")
        print(f"onsager_abs_m_J{J}={mag:.6g}")
