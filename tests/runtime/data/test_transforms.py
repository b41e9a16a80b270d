"""Data transforms: forward/inverse round trips, dequantisation levels, fitted statistics, noise,
reproducibility from the generator, and image display through the fitted inverse."""

from __future__ import annotations

import pytest
import torch

from ebmspec import ir
from ebmspec.api import compile_spec
from ebmspec.runtime.data.transforms import Pipeline, apply_transforms, fit_transforms
from ebmspec.runtime.plots.pixels import to_pixels
from ebmspec.source import NO_SPAN, Source


def call(name: str, **args) -> ir.Call:
    return ir.Call(name, tuple(args.items()), NO_SPAN)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


DEQ8, LOGIT, STD, NOISE = (
    call("dequantize", levels=8),
    call("logit", eps=1e-6),
    call("standardize"),
    call("noise", std=0.1),
)


def test_logit_round_trip():
    x = torch.rand(500, 3, generator=gen(1)) * 0.98 + 0.01
    pipeline = Pipeline((LOGIT,))
    y = pipeline.forward(x, gen())
    assert torch.allclose(y, torch.logit(x * (1 - 2e-6) + 1e-6))
    assert torch.allclose(pipeline.inverse(y), x, atol=1e-5)


def test_standardize_statistics_and_round_trip():
    train = torch.randn(4000, 2, 3, generator=gen(2)) * torch.tensor([1.0, 5.0, 0.1]) + 3.0
    pipeline = Pipeline((STD,), train)
    state = pipeline.state()
    assert set(state) == {"0.mean", "0.std"} and state["0.mean"].shape == (2, 3)
    assert torch.allclose(state["0.mean"], train.mean(0))
    assert torch.allclose(state["0.std"], train.std(0, correction=0))
    y = pipeline.forward(train, gen())
    assert torch.allclose(y.mean(0), torch.zeros(2, 3), atol=1e-4)
    assert torch.allclose(y.std(0, correction=0), torch.ones(2, 3), atol=1e-4)
    assert torch.allclose(pipeline.inverse(y), train, atol=1e-4)
    restored = Pipeline((STD,), state=state)
    assert torch.equal(restored.forward(train, gen()), y)


def test_standardize_fits_on_values_reaching_it_and_clamps_constant_elements():
    train = torch.zeros(4000, 4)
    train[:, 0] = torch.linspace(0, 1, 4000)
    pipeline = Pipeline((call("dequantize", levels=256), LOGIT, STD), train)
    again = Pipeline((call("dequantize", levels=256), LOGIT, STD), train)
    assert all(
        torch.equal(a, b)
        for a, b in zip(pipeline.state().values(), again.state().values(), strict=True)
    )
    mean, std = pipeline.state()["2.mean"], pipeline.state()["2.std"]
    assert mean[1] < -5  # logit of dequantised zeros, not the raw zeros
    assert Pipeline((STD,), train).state()["0.std"][1] == pytest.approx(1e-6)
    y = pipeline.forward(train, gen(3))
    assert torch.allclose(y.mean(0), torch.zeros(4), atol=0.1)
    assert torch.all(std > 0)


def test_unfitted_standardize_raises():
    pipeline = Pipeline((STD,))
    assert not pipeline.fitted
    with pytest.raises(RuntimeError, match="statistics"):
        pipeline.forward(torch.zeros(2, 1), gen())


@pytest.mark.parametrize("levels", [2, 8, 256])
def test_dequantize_inverse_recovers_the_level(levels):
    level = torch.arange(levels, dtype=torch.float32).repeat(50)
    raw = level / (levels - 1)
    pipeline = Pipeline((call("dequantize", levels=levels),))
    y = pipeline.forward(raw, gen(4))
    u = y * levels - level
    assert torch.all((u >= 0) & (u < 1))  # (level + u) / levels
    back = pipeline.inverse(y)
    # the continuous inverse is within half a level; rounding recovers the level exactly
    assert torch.all((back * (levels - 1) - level).abs() < 0.5 + 1e-4)
    assert torch.equal(torch.round(back * (levels - 1)), level)
    centres = (level + 0.5) / levels
    assert torch.allclose(pipeline.inverse(centres), raw, atol=1e-6)


def test_noise_std_and_identity_inverse():
    x = torch.zeros(20000, 5)
    pipeline = Pipeline((NOISE,))
    y = pipeline.forward(x, gen(5))
    assert y.std().item() == pytest.approx(0.1, rel=0.03)
    assert abs(y.mean().item()) < 0.005
    assert torch.equal(pipeline.inverse(y), y)


def test_forward_is_reproducible_from_the_generator():
    x = torch.rand(64, 1, 4, 4, generator=gen(6))
    pipeline = Pipeline((DEQ8, LOGIT, NOISE))
    a, b = pipeline.forward(x, gen(7)), pipeline.forward(x, gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, pipeline.forward(x, gen(8)))


TOY_SPEC = """model t "t"
data toy()
  transform x: standardize() |> noise(std = 0.01)
variables {
  x : real[2]
  y : categorical(2)[3]
}
energy {
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}
"""


def test_fit_and_apply_transforms_on_a_program():
    program = compile_spec(Source("t.ebm", TOY_SPEC))
    train = {"x": torch.randn(1000, 2, generator=gen(9)) * 3 + 1, "y": torch.zeros(1000, 3).long()}
    pipelines = fit_transforms(program.data, train)
    assert list(pipelines) == ["x"] and [s.name for s in pipelines["x"].steps] == [
        "standardize",
        "noise",
    ]
    out = apply_transforms(pipelines, train, gen(10))
    assert out["y"] is train["y"]
    assert torch.allclose(out["x"].mean(0), torch.zeros(2), atol=0.01)
    assert torch.equal(out["x"], apply_transforms(pipelines, train, gen(10))["x"])


IMAGE_SPEC = """model t "t"
data mnist()
  transform x: dequantize(levels = 256) |> logit(eps = 1e-6) |> standardize()
variables {
  x : real[1, 28, 28]
  y : categorical(10)
}
energy {
  return mlp(concat(flatten(x), onehot(y)), hidden = [8], act = elu)
}
"""


def test_images_invert_fitted_standardize():
    program = compile_spec(Source("t.ebm", IMAGE_SPEC))
    variable = program.variable("x")
    pixels = torch.randint(0, 256, (50, 1, 28, 28), generator=gen(11)).float() / 255
    pipelines = fit_transforms(program.data, {"x": pixels})
    model = pipelines["x"].forward(pixels[:4], gen(12))
    for transforms in (pipelines, {"x": pipelines["x"].state()}):
        back = to_pixels(program, variable, model, transforms=transforms)
        assert torch.allclose(back, pixels[:4], atol=0.5 / 255 + 1e-4)
    # without statistics standardize cannot be inverted: the batch is min-max normalised
    fallback = to_pixels(program, variable, model)
    assert fallback.min() == 0 and fallback.max() == 1
