"""Which registry rows the generated specs exercised, and which the generator cannot build.

In: the text of each generated spec (or the shards' saved counts). Out: `Coverage.report()`, a
table per registry kind (energy block, kernel, init distribution, dataset, objective) of how many
specs used each row, the rows never used, and the rows the generator skips with their reason
(`UNGENERATED` of `energies` and `specs`).
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

from ebmspec.semantic import registry as reg
from tests.generated.energies import UNGENERATED
from tests.generated.specs import UNGENERATED_DATASETS

# How a row of each kind is named in a spec's text.
PATTERNS = {
    "block": (lambda: reg.ENERGY_BLOCKS, r"\b{}\("),
    "kernel": (lambda: reg.KERNELS, r"\bwith {}\b"),
    "init": (lambda: reg.INIT_DISTS, r"~ {}\b"),
    "dataset": (lambda: reg.DATASETS, r"^data {}\("),
    "objective": (lambda: reg.OBJECTIVES, r"objective = {}\("),
}


class Coverage:
    def __init__(self) -> None:
        self.counts: dict[str, Counter] = {kind: Counter() for kind in PATTERNS}
        self.specs = 0

    def add(self, text: str) -> None:
        self.specs += 1
        for kind, (rows, pattern) in PATTERNS.items():
            for name in rows():
                if re.search(pattern.format(re.escape(name)), text, re.MULTILINE):
                    self.counts[kind][name] += 1

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = {kind: dict(counter) for kind, counter in self.counts.items()}
        path.write_text(json.dumps({"specs": self.specs, "counts": counts}), encoding="utf-8")

    @classmethod
    def merged(cls, paths) -> Coverage:
        whole = cls()
        for path in paths:
            saved = json.loads(Path(path).read_text(encoding="utf-8"))
            whole.specs += saved["specs"]
            for kind, counts in saved["counts"].items():
                whole.counts[kind].update(counts)
        return whole

    def missing(self) -> dict[str, list[str]]:
        out = {}
        for kind, (rows, _) in PATTERNS.items():
            absent = [n for n in rows() if not self.counts[kind][n]]
            if absent:
                out[kind] = absent
        return out

    def report(self) -> str:
        lines = [f"coverage of {self.specs} generated specs (specs using each registry row):"]
        for kind, (rows, _) in PATTERNS.items():
            used = ", ".join(f"{n} {self.counts[kind][n]}" for n in rows())
            lines.append(f"  {kind} ({len(rows())}): {used}")
        missing = self.missing()
        lines.append(
            "  not exercised: "
            + ("; ".join(f"{k}: {', '.join(v)}" for k, v in missing.items()) or "none")
        )
        skipped = {**UNGENERATED(), **UNGENERATED_DATASETS()}
        lines.append(
            "  skipped by the generator: "
            + ("; ".join(f"{k} ({v})" for k, v in skipped.items()) or "none")
        )
        return "\n".join(lines)


def main() -> None:
    """`python -m tests.generated.coverage DIR`: the shards' coverage merged; exit 1 when a
    registry row was never used."""
    paths = sorted(Path(sys.argv[1]).glob("shard-*.json"))
    if not paths:
        raise SystemExit(f"no shard-*.json in {sys.argv[1]}")
    whole = Coverage.merged(paths)
    print(whole.report())
    if whole.missing():
        raise SystemExit(1)


if __name__ == "__main__":
    main()
