"""Every dataset: one module per dataset declares its row, fields and loader; data errors render
at the `data` line."""

from __future__ import annotations

import importlib.util

import pytest

from ebmspec.api import compile_spec
from ebmspec.diagnostics import UserError
from ebmspec.runtime.data import load_dataset
from ebmspec.source import Source
from tests.runtime.data.test_tabular import CSV, CSV_UNLABELLED


def test_errors_render_at_the_argument_they_are_about(tmp_path):
    source = Source(
        "spec.ebm",
        CSV.format(data='csv(file = "gone.csv", features = 2, label = "y", classes = 3)'),
    )
    program = compile_spec(source)
    with pytest.raises(UserError) as info:
        load_dataset(program, spec_dir=tmp_path, source=source)
    text = str(info.value)
    assert text.startswith("spec.ebm:2:17: error[E620]: data file `gone.csv` not found")
    assert '    2 | data csv(file = "gone.csv"' in text and "= help:" in text
    assert "\n      |                 ^~~~~~~~~~\n" in text  # under "gone.csv"
    with pytest.raises(UserError) as info:
        load_dataset(program)  # no source text: still located, message and help only
    assert str(info.value).startswith("<t>:2:17: error[E620]")


def test_program_without_data():
    source = Source("t.ebm", CSV_UNLABELLED.replace("data {data}\n", "").format())
    with pytest.raises(UserError) as info:
        load_dataset(compile_spec(source), source=source)
    assert info.value.diagnostics[0].code == "E631"


def test_every_dataset_module_declares_its_row_fields_and_loader():
    """One module per dataset: its `SIGNATURE` is the registry row, its `fields` the checker's
    promise and its `load` the loader; one loader per registry row, no more."""
    from ebmspec.runtime.data import LOADERS
    from ebmspec.semantic import registry

    assert set(LOADERS) == set(registry.DATASETS)
    for name, load in LOADERS.items():
        module = importlib.import_module(load.__module__)
        row = registry.DATASETS[name]
        assert row == module.SIGNATURE and row.extra["fields"] is module.fields, name
