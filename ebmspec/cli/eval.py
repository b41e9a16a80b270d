"""`ebmspec eval`: run the spec's evaluate block on a trained run and present the result.

In: a `runs.TrainedRun` (program, EMA model, data statistics, fitted transforms). Out: one dict
(`accuracy_energy`, `accuracy_samples`, `ece`, per-attribute numbers, the run's iteration and the
PNGs written: conditional sample grids and, for 2-D data, the density plot) and a Rich table. The
computation is the library's (`ebmspec/api/evaluation.py`, which `Run.evaluate` shares); this
module adds the progress bar and the table.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def _progress(quiet: bool):
    from ebmspec.cli.progress import progress_bar

    with progress_bar("evaluating", None if not quiet else 0) as update:
        yield None if update is None else (lambda done, total: update(completed=done, total=total))


def evaluate_run(
    run, device: str, limit: int | None, seed: int | None, images: bool, quiet=False, ais=None
):
    """The library's `ebmspec.api.evaluation.evaluate_run` (shared with `Run.evaluate`) with a
    progress bar on a terminal (none when `quiet`)."""
    from ebmspec.api.evaluation import evaluate_run as run_evaluation

    with _progress(quiet) as progress:
        return run_evaluation(run, device, limit, seed, images, progress, ais)


def _ais_rows(table, ais: dict | None) -> None:
    """log Z by AIS both ways (with standard errors), the exact value where known, and the test
    log-likelihoods they imply."""
    if not ais:
        return
    what = f"{ais['temperatures']} temperatures, {ais['runs']} x {ais['chains']} chains"
    table.add_row(
        f"log Z, AIS forward (lower bound; {what})",
        f"{ais['log_z']:.3f} ± {ais['log_z_stderr']:.3f}",
    )
    if "log_z_reverse" in ais:
        table.add_row(
            f"log Z, reverse AIS from {ais['reverse_chains']} test examples (upper bound)",
            f"{ais['log_z_reverse']:.3f} ± {ais['log_z_reverse_stderr']:.3f}",
        )
    if "exact_log_z" in ais:
        table.add_row("log Z, exact", f"{ais['exact_log_z']:.3f}")
    if "test_log_likelihood" in ais:
        of, value = ais["test_log_likelihood_of"], ais["test_log_likelihood"]
        table.add_row(f"test log p({of}) by AIS forward (nats)", f"{value:.3f}")
    if "test_log_likelihood_reverse" in ais:
        table.add_row(
            f"test log p({ais['test_log_likelihood_of']}) by reverse AIS",
            f"{ais['test_log_likelihood_reverse']:.3f}",
        )


def print_evaluation(console, run, result: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{run.program.name} — {run.path} (iteration {result.get('iteration')})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, label in (
        ("accuracy_energy", "accuracy, energy-based"),
        ("accuracy_samples", "accuracy, sample-based"),
        ("ece", "ECE (top label: sum_b n_b/n |acc_b - conf_b|)"),
        ("mce", "MCE (top label: max_b |acc_b - conf_b|)"),
        ("oce", "OCE (error rate at confidence >= 99.7 %, / 0.3 %)"),
        ("ece_all_classes", "ECE, all classes (every p(y = k | x) a prediction)"),
    ):
        if key in result:
            value = result[key]
            table.add_row(label, f"{100 * value:.2f} %" if "accuracy" in key else f"{value:.4f}")
    labels = {"accuracy_energy": "energy", "accuracy_samples": "samples", "ece": "ECE"}
    for metric, numbers in (result.get("per_attribute") or {}).items():
        if not isinstance(numbers, dict):
            continue
        percent = metric.startswith("accuracy")
        text = ", ".join(
            f"{attribute} {100 * value:.2f} %" if percent else f"{attribute} {value:.4f}"
            for attribute, value in numbers.items()
        )
        table.add_row(f"  per attribute, {labels.get(metric, metric)}", text)
    for key, label in (
        ("generation_accuracy", "conditional samples predicted as their condition"),
        ("generation_worst", "  worst single value"),
        ("sample_out_of_range", "sampled inputs outside the data's range"),
        ("sample_mean_gap", "sample mean gap (data std)"),
    ):
        if key in result:
            value = result[key]
            ratio = key != "sample_mean_gap"
            table.add_row(label, f"{100 * value:.2f} %" if ratio else f"{value:.3f}")
    if "test_free_energy" in result:
        table.add_row(
            "test free energy log sum_h exp f (nats, unnormalised)",
            f"{result['test_free_energy']:.3f}",
        )
    if "test_log_likelihood" in result:
        of = result.get("test_log_likelihood_of", "x")
        table.add_row(f"exact test log p({of}) (nats)", f"{result['test_log_likelihood']:.3f}")
        table.add_row("  per dimension", f"{result['test_log_likelihood_per_dim']:.5f}")
    _ais_rows(table, result.get("ais"))
    examples = result.get("test_log_likelihood_examples", result.get("examples", "?"))
    if not examples and "test_free_energy_examples" in result:
        examples = result["test_free_energy_examples"]
    table.add_row("test examples", str(examples))
    console.print(table)
    if result.get("ood"):
        ood = Table(
            title="OOD detection (the test inputs against each OOD set, truncated to as many)"
        )
        for column in ("metric", "score", "test", "OOD set", "value"):
            ood.add_column(column, justify="right" if column == "value" else "left")
        labels = {
            "auroc": "AUROC (in-distribution positive)",
            "auc_pr": "AUC-PR (OOD positive, score -s)",
        }
        scores = {"px": "log p(x)", "py": "max p(y|x)", "pxgrad": "-|grad log p(x)|"}
        tests = {
            "threshold": "threshold (s)",
            "typicality": "typicality (-|s - mean s_train|)",
            "quantile": "two-tailed quantile (min(F, 1 - F))",
        }
        for row in result["ood"]:
            ood.add_row(
                labels[row["metric"]], scores[row["score"]], tests[row["test"]], row["against"],
                f"{100 * row['value']:.2f} %",
            )  # fmt: skip
        console.print(ood)
    for path in result.get("images", []):
        console.print(f"wrote {path}")
