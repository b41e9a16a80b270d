"""The three paper-004 specs lower to exactly the networks printed in the paper's appendix B.

For each spec the network is rebuilt by hand in plain PyTorch, as printed (B.1.1 toy, B.2.2 MNIST,
B.3.2 dSprites). Checked: the parameter count of the ebmspec model, of the hand model and of the
printout (computed layer by layer) agree; with the hand model's weights copied in, both give the
same energies on a random batch; and `ebmspec check` prints the paper's Conv2d layers verbatim.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ebmspec.api import compile_file
from ebmspec.runtime.model.energy import lower_energy, random_values
from tests.conftest import ROOT

# ---- the printouts of appendix B, verbatim ------------------------------------------------------
TOY_PRINTOUT = """\
Sequential(
  (0): Linear(in_features=8, out_features=256, bias=True)
  (1): ELU(alpha=1.0)
  (2): Linear(in_features=256, out_features=256, bias=True)
  (3): ELU(alpha=1.0)
  (4): Linear(in_features=256, out_features=256, bias=True)
  (5): ELU(alpha=1.0)
  (6): Linear(in_features=256, out_features=1, bias=True)
)"""

MNIST_PRINTOUT = """\
Sequential(
  (0): Linear(in_features=794, out_features=1000, bias=True)
  (1): ELU(alpha=1.0)
  (2): Linear(in_features=1000, out_features=500, bias=True)
  (3): ELU(alpha=1.0)
  (4): Linear(in_features=500, out_features=500, bias=True)
  (5): ELU(alpha=1.0)
  (6): Linear(in_features=500, out_features=250, bias=True)
  (7): ELU(alpha=1.0)
  (8): Linear(in_features=250, out_features=250, bias=True)
  (9): ELU(alpha=1.0)
  (10): Linear(in_features=250, out_features=250, bias=True)
  (11): ELU(alpha=1.0)
  (12): Linear(in_features=250, out_features=1, bias=True)
)"""

DSPRITES_CONV_LINES = (
    "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
    "Conv2d(16, 32, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))",
    "Conv2d(32, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))",
    "Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1))",
    "Conv2d(128, 16, kernel_size=(1, 1), stride=(1, 1))",
)
DSPRITES_MLP_PRINTOUT = """\
Sequential(
  (0): Linear(in_features=288, out_features=256, bias=True)
  (1): SiLU()
  (2): Linear(in_features=256, out_features=256, bias=True)
  (3): SiLU()
  (4): Linear(in_features=256, out_features=1, bias=True)
)"""  # the paper prints SiLU(inplace=True); in-place or not, the function is the same


# ---- parameter counts from the printouts --------------------------------------------------------
def linear_count(widths: list[int]) -> int:
    """Weights and biases of Linear(widths[0], widths[1]), Linear(widths[1], widths[2]), ..."""
    return sum(a * b + b for a, b in zip(widths, widths[1:], strict=False))


def conv_count(layers: list[tuple[int, int, int]]) -> int:
    """Weights and biases of Conv2d(c_in, c_out, k x k) for each (c_in, c_out, k)."""
    return sum(c_in * c_out * k * k + c_out for c_in, c_out, k in layers)


TOY_COUNT = linear_count([8, 256, 256, 256, 1])
MNIST_COUNT = linear_count([794, 1000, 500, 500, 250, 250, 250, 1])
DSPRITES_CNN_COUNT = conv_count([(1, 16, 3), (16, 32, 4), (32, 64, 4), (64, 128, 4), (128, 16, 1)])
DSPRITES_MLP_COUNT = linear_count([288, 256, 256, 1])


def test_paper_counts_by_hand():
    # 8*256+256 + 2*(256*256+256) + 256+1
    assert TOY_COUNT == 2_304 + 2 * 65_792 + 257 == 134_145
    # 795,000 + 500,500 + 250,500 + 125,250 + 2 * 62,750 + 251
    assert MNIST_COUNT == 1_797_001
    # conv: 160 + 8,224 + 32,832 + 131,200 + 2,064; MLP: 73,984 + 65,792 + 257
    assert DSPRITES_CNN_COUNT == 174_480
    assert DSPRITES_MLP_COUNT == 140_033
    assert DSPRITES_CNN_COUNT + DSPRITES_MLP_COUNT == 314_513


# ---- the networks, built by hand ----------------------------------------------------------------
class ToyEnergy(nn.Module):
    """B.1.1: f(x, y) = MLP(concat(x, onehot(y) flattened)), 8 -> 256 -> 256 -> 256 -> 1, ELU."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(8, 256),
            nn.ELU(),
            nn.Linear(256, 256),
            nn.ELU(),
            nn.Linear(256, 256),
            nn.ELU(),
            nn.Linear(256, 1),
        )

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = torch.cat([values["x"], values["y"].flatten(1)], dim=1)
        return self.net(inputs).squeeze(-1)


class MnistEnergy(nn.Module):
    """B.2.2: f(x, y) = MLP(concat(flatten(x), onehot(y))), 794 -> 1000 -> 500 -> 500 -> 250 ->
    250 -> 250 -> 1, ELU."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(794, 1000),
            nn.ELU(),
            nn.Linear(1000, 500),
            nn.ELU(),
            nn.Linear(500, 500),
            nn.ELU(),
            nn.Linear(500, 250),
            nn.ELU(),
            nn.Linear(250, 250),
            nn.ELU(),
            nn.Linear(250, 250),
            nn.ELU(),
            nn.Linear(250, 1),
        )

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs = torch.cat([values["x"].flatten(1), values["y"]], dim=1)
        return self.net(inputs).squeeze(-1)


class DSpritesEnergy(nn.Module):
    """B.3.2: h(x) a CNN with 256 flattened features; f = MLP(concat(h(x), onehot(x_pos),
    onehot(y_pos))), 288 -> 256 -> 256 -> 1, SiLU."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)),
            nn.SiLU(inplace=True),
            nn.Conv2d(16, 32, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),
            nn.SiLU(inplace=True),
            nn.Conv2d(32, 64, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),
            nn.SiLU(inplace=True),
            nn.Conv2d(64, 128, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1)),
            nn.SiLU(inplace=True),
            nn.Conv2d(128, 16, kernel_size=(1, 1), stride=(1, 1)),
            nn.Flatten(start_dim=1, end_dim=-1),
        )
        self.mlp = nn.Sequential(
            nn.Linear(288, 256),
            nn.SiLU(inplace=True),
            nn.Linear(256, 256),
            nn.SiLU(inplace=True),
            nn.Linear(256, 1),
        )

    def forward(self, values: dict[str, torch.Tensor]) -> torch.Tensor:
        h = self.cnn(values["x"])
        assert h.shape[1] == 256  # "256 flattened output features"
        inputs = torch.cat([h, values["x_pos"], values["y_pos"]], dim=1)
        return self.mlp(inputs).squeeze(-1)


CASES = {
    "toy_joint": (ToyEnergy, TOY_COUNT),
    "mnist_joint": (MnistEnergy, MNIST_COUNT),
    "dsprites_joint": (DSpritesEnergy, DSPRITES_CNN_COUNT + DSPRITES_MLP_COUNT),
}


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", list(CASES))
def test_spec_lowers_to_the_paper_network(name):
    hand_class, paper_count = CASES[name]
    program = compile_file(ROOT / "specs" / f"{name}.ebm")
    model = lower_energy(program, seed=0)
    torch.manual_seed(123)
    hand = hand_class()

    assert _count(model) == _count(hand) == paper_count
    assert sum(model.parameter_counts().values()) == paper_count

    # Copy the hand model's weights into the ebmspec model, parameter by parameter, in order.
    pairs = list(zip(hand.parameters(), model.parameters(), strict=True))
    with torch.no_grad():
        for theirs, ours in pairs:
            assert theirs.shape == ours.shape
            ours.copy_(theirs)

    values = random_values(program, 5, torch.Generator().manual_seed(11))
    with torch.no_grad():
        expected = hand(values)
        actual = model(values)
    assert actual.shape == expected.shape == (5,)
    torch.testing.assert_close(actual, expected)
    assert expected.std() > 0  # the batch really varies, so this compares something


def test_mlp_architectures_print_as_in_the_paper():
    toy = lower_energy(compile_file(ROOT / "specs" / "toy_joint.ebm"))
    mnist = lower_energy(compile_file(ROOT / "specs" / "mnist_joint.ebm"))
    dsprites = lower_energy(compile_file(ROOT / "specs" / "dsprites_joint.ebm"))
    assert repr(toy.blocks["return"].net) == TOY_PRINTOUT
    assert repr(mnist.blocks["return"].net) == MNIST_PRINTOUT
    assert repr(dsprites.blocks["return"].net) == DSPRITES_MLP_PRINTOUT
    convs = [repr(m) for m in dsprites.blocks["h"].net if isinstance(m, nn.Conv2d)]
    assert convs == list(DSPRITES_CONV_LINES)


def test_check_prints_the_paper_cnn(cli):
    status, out, err = cli("check", "specs/dsprites_joint.ebm", cwd=ROOT)
    assert status == 0, err
    for line in DSPRITES_CONV_LINES:
        assert line in out, line
    assert "314,513" in out
    assert "174,480" in out and "140,033" in out
