"""`data csv(...)`: label column and features, and its errors."""

from __future__ import annotations

import torch

from tests.runtime.data.helpers import error, gen, load

# ---- csv ---------------------------------------------------------------------------------------

CSV = """model t "t"
data {data}
variables {{
  x : real[2]
  y : categorical(3)
}}
energy {{
  return mlp(concat(x, onehot(y)), hidden = [8], act = elu)
}}
"""
CSV_UNLABELLED = CSV.replace("  y : categorical(3)\n", "").replace("concat(x, onehot(y))", "x")


def write_csv(path, lines: list[str]) -> None:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_csv_label_column_and_features(tmp_path):
    lines = ["id, label, a, b"] + [
        f"{i}, {i % 3 if i % 5 else ''}, {i / 2}, {-i}" for i in range(20)
    ]
    write_csv(tmp_path / "t.csv", lines)
    data = load(
        CSV,
        'csv(file = "t.csv", features = 2, label = "label", classes = 3, test = 0.25)',
        spec_dir=tmp_path,
    )
    assert (len(data), len(data.test["x"])) == (15, 5)
    x = torch.cat([data.train["x"], data.test["x"]])
    y = torch.cat([data.train["y"], data.test["y"]])
    ids = x[:, 0].long()  # the first two non-label columns: id and a
    assert torch.equal(x[:, 1], ids / 2)
    assert torch.equal(y, torch.where(ids % 5 == 0, -1, ids % 3))
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert "csv t.csv: 20 rows" in data.description and data.fields["y"] == ("categorical", (), 3)


def test_csv_without_label_takes_the_first_columns(tmp_path):
    write_csv(tmp_path / "u.csv", ["a,b,c", "1,2,3", "4,5,6", "", "7,8.5e1,9"])
    data = load(CSV_UNLABELLED, f'csv(file = "{tmp_path}/u.csv", features = 2, test = 0.34)')
    assert set(data.train) == {"x"} and len(data) == 2
    x = torch.cat([data.train["x"], data.test["x"]])
    assert sorted(x.tolist()) == [[1, 2], [4, 5], [7, 85]]
    batch = data.batch(2, gen(5))
    assert batch["x"].shape == (2, 2) and torch.equal(batch["x"], data.batch(2, gen(5))["x"])


def test_csv_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labelled = 'csv(file = "{}", features = 2, label = "label", classes = 3)'
    write_csv(tmp_path / "bad.csv", ["a,b,label", "1,2,0", "", "3,oops,1"])
    text = error(CSV, labelled.format("bad.csv"), "E626")
    assert "`bad.csv` line 4 (data row 2), column `b`: 'oops' is not a finite number" in text
    write_csv(tmp_path / "nan.csv", ["a,b,label", "1,nan,0"])
    assert "line 2 (data row 1), column `b`" in error(CSV, labelled.format("nan.csv"), "E626")
    write_csv(tmp_path / "range.csv", ["a,b,label", "1,2,0", "1,2,3"])
    text = error(CSV, labelled.format("range.csv"), "E627")
    assert "`range.csv` line 3 (data row 2), column `label`: label '3' is not one of 0..2" in text
    write_csv(tmp_path / "nolabel.csv", ["a,b,lable", "1,2,0"])
    text = error(CSV, labelled.format("nolabel.csv"), "E625")
    assert "`nolabel.csv` has no column `label`" in text and "did you mean `lable`" in text
    write_csv(tmp_path / "narrow.csv", ["a,label", "1,0"])
    assert "`narrow.csv` has 1 feature columns" in error(CSV, labelled.format("narrow.csv"), "E625")
    write_csv(tmp_path / "ragged.csv", ["a,b,label", "1,2,0", "1,2"])
    text = error(CSV, labelled.format("ragged.csv"), "E625")
    assert "`ragged.csv` line 3 (data row 2) has 2 cells, the header has 3" in text
    write_csv(tmp_path / "empty.csv", ["a,b,label"])
    assert "`empty.csv` holds no examples" in error(CSV, labelled.format("empty.csv"), "E630")
    write_csv(tmp_path / "few.csv", ["a,b,label", "1,2,0", "1,2,1"])
    text = error(CSV, labelled.format("few.csv"), "E628")  # 10 % of 2 rows rounds to 0
    assert "few.csv holds 2 examples, so test = 0.1 leaves no test examples" in text
    (tmp_path / "latin.csv").write_bytes(b"a,b,label\n\xff,1,0\n")
    assert "cannot read data file `latin.csv`" in error(CSV, labelled.format("latin.csv"), "E621")
    text = error(CSV, labelled.format("missing.csv"), "E620")
    assert "data file `missing.csv` not found" in text


# ---- csv mapped onto the variables by name ------------------------------------------------------

NAMED = """model t "t"
data {data}
variables {{
  x : real[2]
  b : binary[3]
  c : categorical(3)
  d : categorical(2)
}}
energy {{
  return mlp(concat(x, b, onehot(c), onehot(d)), hidden = [8])
}}
"""


def test_csv_maps_columns_by_name_range_and_index(tmp_path):
    lines = ["p, q, b0, b1, b2, colour, d"] + [
        f"{i / 4}, {-i}, {i % 2}, {(i // 2) % 2}, {'' if i == 3 else 1}, {i % 3}, {i % 2}"
        for i in range(12)
    ]
    write_csv(tmp_path / "n.csv", lines)
    columns = 'columns = ["x = p..q", "c = colour"]'
    data = load(NAMED, f'csv(file = "n.csv", test = 0.25, {columns})', spec_dir=tmp_path)
    both = {k: torch.cat([data.train[k], data.test[k]]) for k in data.train}
    order = torch.argsort(-both["x"][:, 1])  # row i has q = -i
    i = torch.arange(12)
    assert torch.equal(both["x"][order], torch.stack([i / 4, -i.float()], 1))
    assert torch.equal(both["b"][order][:, 0], i % 2) and both["b"].dtype == torch.int64
    assert both["b"][order][3, 2] == -1  # an empty binary cell is missing
    assert torch.equal(both["c"][order], i % 3) and torch.equal(both["d"][order], i % 2)
    assert "x <- p..q" in data.description and "b <- b0..b2" in data.description


def test_csv_by_name_errors_say_how_to_map_or_transform(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_csv(tmp_path / "m.csv", ["p, q, b0, b1, b2, c, d", "0.5, 1, 0, 0.7, 1, 2, 1"])
    text = error(NAMED, 'csv(file = "m.csv")', "E625")
    assert "no column for `x`" in text and 'columns = ["x = first..last"]' in text
    text = error(NAMED, 'csv(file = "m.csv", columns = ["x = p..b0"])', "E625")
    assert "needs 2 columns" in text and "3 are mapped" in text
    text = error(NAMED, 'csv(file = "m.csv", columns = ["x = p..q"])', "E627")
    assert "'0.7' is not 0 or 1" in text and "binarize(threshold = 0.5)" in text
    write_csv(tmp_path / "m.csv", ["p, q, b0, b1, b2, c, d", "0.5, 1, 0, 1, 1, 3, 1"])
    text = error(NAMED, 'csv(file = "m.csv", columns = ["x = p..q"])', "E627")
    assert "'3' is not one of 0..2" in text
    text = error(NAMED, 'csv(file = "m.csv", columns = ["x = p..zz"])', "E625")
    assert "no column `zz`" in text


def test_logit_of_values_outside_0_1_is_a_located_error(tmp_path):
    """E633 at the `logit` step (training reported the NaNs as a divergence at iteration 0); the
    same data scaled into [0, 1] loads."""
    import pytest

    from ebmspec.diagnostics import UserError

    write_csv(tmp_path / "t.csv", ["a, b"] + [f"{i / 4 - 2}, {i / 10}" for i in range(20)])
    data = 'csv(file = "t.csv", features = 2, test = 0.25)\n  transform x: logit()'
    with pytest.raises(UserError) as info:
        load(CSV_UNLABELLED, data, spec_dir=tmp_path)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "E633" and (diagnostic.span.line, diagnostic.span.column) == (3, 16)
    assert (
        "`logit` needs the values of `x` in [0, 1], and the training data has them in [-"
        in diagnostic.message
    )
    write_csv(tmp_path / "t.csv", ["a, b"] + [f"{i / 20}, {i / 40}" for i in range(20)])
    assert len(load(CSV_UNLABELLED, data, spec_dir=tmp_path)) == 15
