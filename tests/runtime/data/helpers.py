"""What the dataset tests share: a spec template with a `data {data}` line, loading it, and its
located errors."""

from __future__ import annotations

import pytest
import torch

from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.data import load_dataset
from ebmspec.source import Source

TOY = """model t "t"
data {data}
variables {{
  x : real[2]
  y : categorical(2)[3]
}}
energy {{
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}}
"""


def load(template: str, data: str, **kwargs):
    source = Source("t.ebm", template.format(data=data))
    return load_dataset(compile_spec(source), source=source, **kwargs)


def error(template: str, data: str, code: str, **kwargs) -> str:
    with pytest.raises(UserError) as info:
        load(template, data, **kwargs)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == code, str(info.value)
    assert diagnostic.span.line == 2  # the `data` line
    return str(info.value)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)
