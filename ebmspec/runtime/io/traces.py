"""Sampled chains as files others read: the arrays of a traced .npz, and ArviZ `InferenceData`.

In: the draws `{variable: [chain, draw, *shape]}` (NumPy arrays; categoricals as integer codes,
binaries as 0/1), the clamped values `{variable: [*shape]}`, each traced variable's per-element
diagnostics `{variable: {"rhat" | "ess_bulk" | "ess_tail" | "mcse_mean": [*shape]}}`, the sampler
blocks `(label, acceptance, moves per step)` and the run's facts (origin, sampler, seed, sweeps,
warm-up, thinning). Out:

* `npz_arrays`: the .npz entries a trace adds: `diagnostics.<variable>.<key>` per element and
  `trace.sweeps` / `trace.warmup` / `trace.thin` (variable names are identifiers, so dotted keys
  cannot collide with them);
* `inference_data`: an `arviz.InferenceData` whose `posterior` holds the draws with dims
  (chain, draw, <variable>_dim_i) as ArviZ names them, `constant_data` the clamped values, and an
  extra `diagnostics` group ebmspec's per-element numbers (dim `diagnostic`: rhat, ess_bulk,
  ess_tail, mcse_mean) and the blocks' acceptance and moves (dim `sampler.block`); the run's
  facts are attributes of every group. `write_netcdf` writes it with h5netcdf.

ArviZ and h5netcdf are the optional extra `ebmspec[traces]`; `missing_packages` says which of them
are not installed, without importing them.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

TRACES_EXTRA = "ebmspec[traces]"
DIAGNOSTICS = ("rhat", "ess_bulk", "ess_tail", "mcse_mean")


def missing_packages() -> list[str]:
    """The packages of `ebmspec[traces]` that are not installed."""
    return [name for name in ("arviz", "h5netcdf") if importlib.util.find_spec(name) is None]


def npz_arrays(elements: dict, facts: dict) -> dict[str, np.ndarray]:
    """The per-element diagnostics and the kept sweeps, as .npz entries."""
    arrays = {
        f"diagnostics.{name}.{key}": np.asarray(values[key], dtype=np.float64)
        for name, values in elements.items()
        for key in DIAGNOSTICS
    }
    for key in ("sweeps", "warmup", "thin"):
        arrays[f"trace.{key}"] = np.array(facts[key], dtype=np.int64)
    return arrays


def inference_data(draws: dict, clamped: dict, elements: dict, blocks: list, facts: dict):
    """An `arviz.InferenceData` of the chains (see the module docstring)."""
    import arviz
    import xarray

    idata = arviz.from_dict(
        posterior={name: np.asarray(value) for name, value in draws.items()},
        constant_data={name: np.asarray(value) for name, value in clamped.items()} or None,
    )
    variables, coords = {}, {"diagnostic": list(DIAGNOSTICS)}
    for name, values in elements.items():
        dims = idata.posterior[name].dims[2:]  # ArviZ's own names: <name>_dim_0, ...
        stacked = np.stack([np.asarray(values[key], dtype=np.float64) for key in DIAGNOSTICS])
        variables[name] = (("diagnostic", *dims), stacked)
    if blocks:
        coords["sampler.block"] = [label for label, _, _ in blocks]
        variables["sampler.acceptance"] = (("sampler.block",), [b[1] for b in blocks])
        variables["sampler.moves"] = (("sampler.block",), [b[2] for b in blocks])
    idata.add_groups({"diagnostics": xarray.Dataset(variables, coords=coords)})
    for group in idata.groups():
        idata[group].attrs.update({key: _attribute(value) for key, value in facts.items()})
    return idata


def _attribute(value):
    """netCDF attributes are numbers or text; None (no output file, say) becomes ""."""
    return "" if value is None else value


def write_netcdf(idata, path: Path | str) -> None:
    """Write `idata` to `path` as netCDF 4 (h5netcdf, compressed)."""
    idata.to_netcdf(str(path), engine="h5netcdf")
