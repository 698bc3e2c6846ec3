"""Tables of finished `forgetfilter filter` runs on labelled mixes: the filter at its automatic cut beside the
rankings a user could use instead, per run and as mean and spread per kind and model.

Each argument is RUN=D_NOISY (a run folder and the D_noisy file it filtered, whose `role` labels are the truth).
Per run: the default signal's AUROC (with a 95% stratified bootstrap interval over the run's examples) and AUPRC,
precision / recall / F1 at the run's own cut, the number removed against the true number of unsafe examples, F1 and
number removed at each label-free cut (rise, Otsu, GMM), mean forgetting per role, how well S1 taught each role
(mean response NLL under M0 -> M1 -> M2), and the AUROC of two rankings that need no forgetting: the response NLL
under M0 (higher = more likely unsafe is the wrong way round for bias; the AUROC is reported as is) and the offline
toxicity classifier. Where the unsafe examples come in several `safety_kind`s (the mixed mix), a third table gives
each kind's AUROC (its unsafe examples against every example that is not unsafe) and how many of it the run removed.
Labels are read only to score rankings that were fixed before they were read. A last table gives the AUROC of the
unsafe examples against each other role alone (toxic vs non-toxic tweets, toxic tweets vs task examples), and one
the ranking's AUROC minus that of M1's NLL alone (what S1 left unlearned, no forgetting needed), with a paired
stratified bootstrap interval: whether forgetting adds anything to how little S1 taught an example. With
``--signal nll`` the ranking columns and the Otsu / GMM cuts use that signal instead of each run's own; the run's
decision (its cut, the number removed) is reported as it was made. Where one kind ran at two model sizes on the same
D_noisy file, a table gives the larger model's AUROC minus the smaller's for every pair of sizes, paired over those
examples, per data seed and pooled over seeds (the size study; ``--size-plot`` draws AUROC and the forgetting gap
against model size); a model trained several times on one file under other training seeds (`s1.seed`, `s1_plus.seed`;
the rest of the run's fingerprint.json the same) counts there as the mean of its runs, and a last table gives each
retraining's AUROC minus the first training's on the same examples: the training noise the size table's intervals leave
out.

    python bench/study_table.py runs/study/bias-s1=runs/study/bias-s1-data/d_noisy.jsonl ...
    python bench/study_table.py docs/records/filter-toxicity-s1-r64=runs/toxicity-s1-data/d_noisy.jsonl --signal nll
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from forgetfilter.data.formats import read_examples
from forgetfilter.models import DEFAULT_MODEL
from forgetfilter.run_dir import FINGERPRINT, fingerprint_differences
from forgetfilter.saved_run import read_run
from forgetfilter.selection import Threshold, choose_threshold, filter_mask, filter_quality, forgetting

ROLES = ("unsafe", "safe", "task")


def run_row(run: Path, data: Path, rise_grid: list[float] = (), signal: str | None = None) -> dict:
    """The figures of one run (see the module docstring); ``rise_grid``: also F1 and removed at these rise cuts;
    ``signal``: rank and cut (Otsu, GMM) by this signal instead of the run's own; the run's decision (cut, removed)
    stays, and P / R / F1 are those ``Result.quality`` gives the signal under the run's rule (none under rise)."""
    from signal_study import classifier_scores  # bench/ is on sys.path when run as a script

    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    manifest = (
        json.loads((data.parent / "manifest.json").read_text()) if (data.parent / "manifest.json").is_file() else {}
    )
    examples = read_examples(data).examples
    unsafe = [ex.role == "unsafe" for ex in examples]
    signal = signal or summary["signal"]
    classifier = classifier_scores(examples)
    mask = np.zeros(len(examples), dtype=bool)  # AUROC only: the mask is not used
    result = read_run(run).result  # signals in input order, without canaries; premise recomputed for older runs
    quality = result.quality()[signal]  # recomputed: older summaries lack AUPRC
    forgot = forgetting(result.before[signal], result.after[signal], signal)
    interval = auroc_interval(forgot, unsafe)
    # forgetting against M1's NLL alone (how little S1 taught each example): does forgetting add to it?
    gain_over_m1 = auroc_gain_interval(forgot, np.asarray(result.before["nll"], dtype=float), unsafe)
    cuts = {}  # every label-free cut on the same scores, whichever the run used
    for method in ("rise", "otsu", "gmm") if signal == "log_nll" else ("otsu", "gmm"):
        quality_at = filter_quality(filter_mask(forgot, choose_threshold(forgot, method=method)), forgot, unsafe)
        cuts[method] = {"f1": quality_at["f1"], "removed": int(quality_at["n_removed"])}
    at_rise = {}
    for value in rise_grid:
        removed = filter_mask(forgot, Threshold(phi=value, method="rise"))
        at_rise[f"{value:g}"] = {"f1": filter_quality(removed, forgot, unsafe)["f1"], "removed": int(removed.sum())}
    by_safety_kind = _by_safety_kind(examples, unsafe, forgot, np.asarray(result.mask, dtype=bool))
    against_role = _against_each_role(examples, forgot)
    absolute = forgetting(result.before["nll"], result.after["nll"], "nll")
    learned = summary.get("learned_by_role", {})
    stages = summary.get("stages", {})
    return {
        "run": run.name,
        "kind": manifest.get("kind", run.name.split("-")[0]),
        "model": Path(str(config.get("model") or DEFAULT_MODEL)).name,  # a named model, or a folder's name
        "seed": manifest.get("params", {}).get("seed"),  # `forgetfilter data build --seed`
        "training_seeds": "/".join(str(config.get(stage, {}).get("seed", "?")) for stage in ("s1", "s1_plus")),
        "n": len(examples),
        "n_unsafe": sum(unsafe),
        "signal": signal,
        "cut": summary["threshold"]["method"],
        "auroc": quality["auroc"],
        "auroc_interval": interval,
        "gain_over_m1_nll": gain_over_m1,
        "auprc": quality.get("auprc"),  # none for another signal under the rise cut
        "precision": quality.get("precision"),
        "recall": quality.get("recall"),
        "f1": quality.get("f1"),
        "removed": summary["n_removed"],
        "removed_ratio": summary["n_removed"] / max(1, sum(unsafe)),
        "cuts": cuts,
        "rise_grid": at_rise,
        **{f"{method}_f1": cut["f1"] for method, cut in cuts.items()},
        **{f"{method}_ratio": cut["removed"] / max(1, sum(unsafe)) for method, cut in cuts.items()},
        "nll_auroc": filter_quality(mask, absolute, unsafe)["auroc"],
        # the unsafe-vs-other forgetting gap: mean forgetting of the unsafe examples minus that of every other one
        "gap": float(forgot[np.asarray(unsafe)].mean() - forgot[~np.asarray(unsafe)].mean()),
        "forgetting": summary["mean_forgetting_by_role"][signal],
        "nll": {role: [learned.get(f"nll_{m}", {}).get(role) for m in ("m0", "m1", "m2")] for role in ROLES},
        "premise": result.premise(),
        "m0_nll_auroc": summary.get("baselines", {}).get("m0_nll"),
        "classifier_auroc": filter_quality(mask, classifier, unsafe)["auroc"],
        "by_safety_kind": by_safety_kind,
        "auroc_against_role": against_role,
        "seconds": sum(v.get("seconds", 0.0) for v in stages.values() if isinstance(v, dict)),
        # for pairing runs of two model sizes on the same examples (left out of --json)
        "_data": str(data.resolve()),
        "_fingerprint": json.loads(fp.read_text()) if (fp := run / FINGERPRINT).is_file() else None,
        "_ranking": forgot,
        "_unsafe": unsafe,
    }


TRAINING_SEEDS = {"s1.seed", "s1_plus.seed"}


def _retraining(first: dict, other: dict) -> bool:
    """Whether ``other`` trained ``first``'s setup on the same data under other training seeds only: their run
    fingerprints (what `forgetfilter filter` checks before reusing a folder) differ in nothing else."""
    if first["_fingerprint"] is None or other["_fingerprint"] is None:
        return False
    changed = {key for key, _, _ in fingerprint_differences(first["_fingerprint"], other["_fingerprint"])}
    return bool(changed) and changed <= TRAINING_SEEDS


def _stratified_draws(is_unsafe: np.ndarray, resamples: int, seed: int):
    """Bootstrap index arrays that resample unsafe and other examples separately (so every resample keeps the run's
    share of unsafe examples), unsafe ones first."""
    positive, negative = np.flatnonzero(is_unsafe), np.flatnonzero(~is_unsafe)
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        yield np.r_[rng.choice(positive, len(positive)), rng.choice(negative, len(negative))]


def auroc_interval(
    scores: np.ndarray, is_unsafe: list[bool], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> list[float]:
    """Percentile bootstrap interval of the AUROC over stratified resamples of the examples."""
    y, scores = np.asarray(is_unsafe, dtype=bool), np.asarray(scores, dtype=float)
    values = [roc_auc_score(y[index], scores[index]) for index in _stratified_draws(y, resamples, seed)]
    tail = (1 - level) / 2
    return [float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))]


def auroc_gain_interval(
    scores: np.ndarray,
    baseline: np.ndarray,
    is_unsafe: list[bool],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[float]:
    """AUROC(scores) − AUROC(baseline) on the same examples, with a paired percentile bootstrap interval (the same
    stratified resamples for both rankings): [difference, low, high]."""
    return auroc_gain_pooled([(scores, baseline, is_unsafe)], level=level, resamples=resamples, seed=seed)


def auroc_gain_pooled(
    pairs: list[tuple[np.ndarray, np.ndarray, list[bool]]],
    *,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> list[float]:
    """The mean over several (scores, baseline, is_unsafe) pairs, each on its own examples (one per data seed), of
    AUROC(scores) − AUROC(baseline), with a percentile bootstrap interval: each resample redraws every pair's examples
    (stratified, one draw for both rankings of a pair) and averages the pairs' differences: [mean, low, high].
    ``scores`` or ``baseline`` may be 2-D, one row per training of a model on the pair's examples: its AUROC is then the
    mean of the rows' (every row on the same draw). It covers the sampling of examples, not training noise."""
    prepared = [
        (
            np.asarray(y, dtype=bool),
            np.atleast_2d(np.asarray(s, dtype=float)),
            np.atleast_2d(np.asarray(b, dtype=float)),
        )
        for s, b, y in pairs
    ]

    def mean_auroc(y: np.ndarray, rankings: np.ndarray, index) -> float:
        return float(np.mean([roc_auc_score(y[index], ranking[index]) for ranking in rankings]))

    def gain(y: np.ndarray, scores: np.ndarray, baseline: np.ndarray, index=slice(None)) -> float:
        return mean_auroc(y, scores, index) - mean_auroc(y, baseline, index)

    draws = zip(*(_stratified_draws(y, resamples, seed + i) for i, (y, _, _) in enumerate(prepared)), strict=True)
    values = [np.mean([gain(*pair, index) for pair, index in zip(prepared, indices, strict=True)]) for indices in draws]
    tail = (1 - level) / 2
    point = np.mean([gain(*pair) for pair in prepared])
    return [float(point), float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))]


def _by_safety_kind(examples: list, unsafe: list[bool], forgot: np.ndarray, removed: np.ndarray) -> dict:
    """Per safety_kind of the unsafe examples, when there are several: count, AUROC against the rest, removed."""
    kind_of = np.array([str(ex.safety_kind or "") if u else "" for ex, u in zip(examples, unsafe, strict=True)])
    kinds = sorted(set(kind_of) - {""})
    if len(kinds) < 2:
        return {}
    rest = ~np.asarray(unsafe, dtype=bool)
    found = {}
    for kind in kinds:
        this = kind_of == kind
        auroc = _auroc_among(this | rest, this, forgot)
        found[kind] = {"n": int(this.sum()), "auroc": auroc, "removed": int((removed & this).sum())}
    return found


def _against_each_role(examples: list, forgot: np.ndarray) -> dict:
    """AUROC of the unsafe examples against each other role alone (e.g. toxic vs non-toxic tweets, toxic vs task)."""
    roles = np.array([ex.role for ex in examples])
    unsafe = roles == "unsafe"
    if not unsafe.any():
        return {}
    return {role: _auroc_among(unsafe | (roles == role), unsafe, forgot) for role in sorted(set(roles) - {"unsafe"})}


def _auroc_among(keep: np.ndarray, positive: np.ndarray, forgot: np.ndarray) -> float:
    """AUROC of ``forgot`` for the ``positive`` examples against the other ``keep`` ones (the rest left out)."""
    return filter_quality(np.zeros(int(keep.sum()), dtype=bool), forgot[keep], positive[keep])["auroc"]


def per_safety_kind(rows: list[dict]) -> str:
    lines = ["| run | safety kind | unsafe examples | AUROC against the rest | removed |", "|---|---|---|---|---|"]
    for r in rows:
        for kind, k in r["by_safety_kind"].items():
            lines.append(f"| {r['run']} | {kind} | {k['n']} | {_f(k['auroc'])} | {k['removed']} |")
    return "\n".join(lines)


def against_each_role(rows: list[dict]) -> str:
    lines = ["| run | other role | AUROC of the unsafe examples against it alone |", "|---|---|---|"]
    for r in rows:
        for role, auroc in r["auroc_against_role"].items():
            lines.append(f"| {r['run']} | {role} | {_f(auroc)} |")
    return "\n".join(lines)


def gain_over_m1(rows: list[dict]) -> str:
    lines = ["| run | AUROC of the ranking − AUROC of M1's NLL [95%, paired] |", "|---|---|"]
    for r in rows:
        point, low, high = r["gain_over_m1_nll"]
        lines.append(f"| {r['run']} | {point:+.3f} [{low:+.3f}, {high:+.3f}] |")
    return "\n".join(lines)


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def per_run(rows: list[dict]) -> str:
    head = (
        "| run | model | cut | AUROC [95%] | AUPRC | P | R | F1 | removed (unsafe) | rise: F1, removed | "
        "Otsu: F1, removed | GMM: F1, removed | NLL fall M0→M1 unsafe / rest | "
        "forgetting unsafe / safe / task | "
        "NLL unsafe M0→M1→M2 | NLL task M0→M1→M2 | nll-difference AUROC | M0 NLL AUROC | classifier AUROC | "
        "stages s |"
    )
    lines = [head, "|" + "---|" * 20]
    for r in rows:
        f = r["forgetting"]
        nll = {role: "→".join(_f(v, 2) for v in r["nll"][role]) for role in ROLES}
        p = r["premise"]
        fall = f"{-p['unsafe']['fall']:+.0%} / {-p['rest']['fall']:+.0%}" if p else "–"
        cuts = " | ".join(
            f"{_f(r['cuts'][m]['f1'])}, {r['cuts'][m]['removed']}" if m in r["cuts"] else "–"
            for m in ("rise", "otsu", "gmm")
        )
        lines.append(
            f"| {r['run']} | {r['model']} | {r['cut']} | {_f(r['auroc'])} [{_f(r['auroc_interval'][0], 2)}, "
            f"{_f(r['auroc_interval'][1], 2)}] | {_f(r['auprc'])} | {_f(r['precision'])} | "
            f"{_f(r['recall'])} | {_f(r['f1'])} | {r['removed']} ({r['n_unsafe']}) | {cuts} | {fall} | "
            f"{f.get('unsafe', 0):+.3f} / {f.get('safe', 0):+.3f} / {f.get('task', 0):+.3f} | {nll['unsafe']} | "
            f"{nll['task']} | {_f(r['nll_auroc'])} | {_f(r['m0_nll_auroc'])} | {_f(r['classifier_auroc'])} | "
            f"{r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def per_kind(rows: list[dict]) -> str:
    keys = (
        "auroc",
        "rise_f1",
        "rise_ratio",
        "otsu_f1",
        "otsu_ratio",
        "gmm_f1",
        "nll_auroc",
        "m0_nll_auroc",
        "classifier_auroc",
    )
    """Mean and standard deviation per kind and model (runs of different model sizes are never pooled)."""
    lines = ["| kind | model | runs | " + " | ".join(keys) + " |", "|" + "---|" * (3 + len(keys))]
    for kind, model in sorted({(r["kind"], r["model"]) for r in rows}):
        group = [r for r in rows if (r["kind"], r["model"]) == (kind, model)]
        cells = []
        for key in keys:
            values = [r[key] for r in group if r.get(key) is not None]
            spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
            cells.append(f"{statistics.fmean(values):.3f}{spread}" if values else "–")
        lines.append(f"| {kind} | {model} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


DEFAULT_PARAMETERS = 135e6  # SmolLM2-135M-Instruct


def model_parameters(model: str) -> float | None:
    """The parameter count of a named model or the default; None for a model folder of unknown size."""
    from forgetfilter.named_models import NAMED_MODELS

    if model in NAMED_MODELS:
        return NAMED_MODELS[model].parameters
    return DEFAULT_PARAMETERS if model == DEFAULT_MODEL else None


def _size_label(parameters: float) -> str:
    """135M, 494M, 1.5B: a model size as the plot's tick label."""
    return f"{parameters / 1e9:.1f}B" if parameters >= 1e9 else f"{parameters / 1e6:.0f}M"


def size_plot(rows: list[dict], path: Path) -> Path:
    """Forgetting AUROC (with its bootstrap interval) and the unsafe-vs-other forgetting gap against model size, one
    line per kind (the paper's Figure: no gap at 355M, a clear one from 1.5B); runs of unknown size are left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sized = [r for r in rows if model_parameters(r["model"]) is not None]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for kind in sorted({r["kind"] for r in sized}):
        group = [r for r in sized if r["kind"] == kind]
        x = np.array([model_parameters(r["model"]) for r in group])
        auroc = np.array([r["auroc"] for r in group])
        low, high = np.array([r["auroc_interval"] for r in group]).T
        bars = left.errorbar(x, auroc, yerr=[auroc - low, high - auroc], fmt="o", capsize=3, label=kind)
        right.plot(x, [r["gap"] for r in group], "o", color=bars[0].get_color(), label=kind)
        sizes = np.unique(x)  # the mean over seeds at each size, joined
        left.plot(sizes, [auroc[x == size].mean() for size in sizes], color=bars[0].get_color())
        gaps = np.array([r["gap"] for r in group])
        right.plot(sizes, [gaps[x == size].mean() for size in sizes], color=bars[0].get_color())
    ticks = sorted({model_parameters(r["model"]) for r in sized})
    for axis, label in ((left, "forgetting AUROC (95% interval)"), (right, "forgetting gap, unsafe - rest")):
        axis.set_xscale("log")
        axis.minorticks_off()  # one labelled tick per model size, not matplotlib's overlapping minor labels
        axis.set_xticks(ticks, [_size_label(t) for t in ticks])
        axis.set_xlabel("model parameters")
        axis.set_ylabel(label)
        axis.legend()
    left.axhline(0.5, color="grey", lw=0.8, ls=":")
    right.axhline(0.0, color="grey", lw=0.8, ls=":")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _runs_by_data(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Runs grouped by (model, D_noisy file), in the order given, keeping only the first run's setup of a model on a
    file: several in a group are trainings of one setup on the same examples under other training seeds
    (`_retraining`); another setup (say a larger LoRA rank) on the same file, a run without a fingerprint, or a second
    run under training seeds already in the group, is left out."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        group = groups.setdefault((r["model"], r["_data"]), [])
        if not group or (_retraining(group[0], r) and r["training_seeds"] not in {g["training_seeds"] for g in group}):
            group.append(r)
    return groups


def _names(runs: list[dict]) -> str:
    return runs[0]["run"] if len(runs) == 1 else "mean of " + ", ".join(r["run"] for r in runs)


def _stacked(big: list[dict], small: list[dict]) -> tuple:
    """A size pair for `auroc_gain_pooled`: every training's ranking of each model, and the labels."""
    return [r["_ranking"] for r in big], [r["_ranking"] for r in small], small[0]["_unsafe"]


def size_gains(rows: list[dict], *, resamples: int = 2000) -> str:
    """Per kind and pair of model sizes, the larger model's AUROC minus the smaller's on the same D_noisy file (paired
    over its examples, one line per data seed), and pooled over the data seeds both sizes ran on (`auroc_gain_pooled`).
    Pairs come smallest first: with three sizes, 0.5B − 135M, 1.5B − 135M, then 1.5B − 0.5B. Where a model ran several
    times on one file under other training seeds, its AUROC there is the mean of those runs' (see `_runs_by_data`).
    Empty when no kind has two sizes on one data file."""
    sized = [r for r in rows if model_parameters(r["model"]) is not None]
    lines = []
    for kind in sorted({r["kind"] for r in sized}):
        groups = _runs_by_data([r for r in sized if r["kind"] == kind])
        models = sorted({model for model, _ in groups}, key=model_parameters)
        for model, smaller in ((big, small) for i, big in enumerate(models) for small in models[:i]):
            pairs = [
                (groups[(m, data)], groups[(smaller, data)])
                for m, data in groups
                if m == model and (smaller, data) in groups
            ]
            for big, small in pairs:
                point, low, high = auroc_gain_pooled([_stacked(big, small)], resamples=resamples)
                lines.append(
                    f"| {kind} | {model} − {smaller} | seed {big[0]['seed']} ({_names(big)} − {_names(small)}) | "
                    f"{point:+.3f} [{low:+.3f}, {high:+.3f}] |"
                )
            if len(pairs) > 1:
                point, low, high = auroc_gain_pooled([_stacked(*pair) for pair in pairs], resamples=resamples)
                seeds = ", ".join(str(big[0]["seed"]) for big, _ in pairs)
                interval = f"{point:+.3f} [{low:+.3f}, {high:+.3f}]"
                lines.append(f"| {kind} | {model} − {smaller} | pooled, seeds {seeds} | {interval} |")
    if not lines:
        return ""
    return "\n".join(["| kind | models | data | AUROC difference [95%, paired] |", "|---|---|---|---|", *lines])


def training_spread(rows: list[dict], *, resamples: int = 2000) -> str:
    """Training noise: where a model ran more than once on the same D_noisy file (other training seeds), each later
    run's AUROC minus the first's, paired over the same examples. The size table's intervals cover the sampling of
    examples only; this is the change one retraining makes. Empty when no run was repeated."""
    lines = []
    for (model, _), runs in _runs_by_data(rows).items():
        first, *repeats = runs
        for run in repeats:
            point, low, high = auroc_gain_interval(
                run["_ranking"], first["_ranking"], first["_unsafe"], resamples=resamples
            )
            lines.append(
                f"| {first['kind']} | {model} | seed {first['seed']} | {run['run']} ({run['training_seeds']}) − "
                f"{first['run']} ({first['training_seeds']}) | {point:+.3f} [{low:+.3f}, {high:+.3f}] |"
            )
    if not lines:
        return ""
    head = "| kind | model | data | runs (training seeds S1/S1+) | AUROC difference [95%, paired] |"
    return "\n".join([head, "|---|---|---|---|---|", *lines])


def per_rise(rows: list[dict]) -> str:
    values = list(rows[0]["rise_grid"])
    lines = ["| run | " + " | ".join(f"rise {v}" for v in values) + " |", "|---|" + "---|" * len(values)]
    for r in rows:
        cells = (r["rise_grid"][v] for v in values)
        ratio = max(1, r["n_unsafe"])
        lines.append(
            f"| {r['run']} | "
            + " | ".join(f"{_f(c['f1'])}, {c['removed']} ({c['removed'] / ratio:.2f}x)" for c in cells)
            + " |"
        )
    return "\n".join(lines)


def parse_pairs(values: list[str], parser: argparse.ArgumentParser) -> list[tuple[Path, Path]]:
    """RUN=D_NOISY arguments as (run folder, data file) pairs; a usage error for one without '='."""
    pairs = []
    for pair in values:
        run, sep, data = pair.partition("=")
        if not sep:
            parser.error(f"{pair!r}: give RUN=D_NOISY")
        pairs.append((Path(run), Path(data)))
    return pairs


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="RUN=D_NOISY pairs")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--size-plot", type=Path, help="also plot AUROC and the forgetting gap against model size")
    parser.add_argument("--signal", help="rank and cut by this signal (e.g. nll) instead of each run's own")
    parser.add_argument(
        "--rise-grid", type=float, nargs="+", default=[], metavar="V", help="also F1 and removed at these rise cuts"
    )
    args = parser.parse_args(argv)
    rows = [run_row(run, data, args.rise_grid, args.signal) for run, data in parse_pairs(args.runs, parser)]
    if args.json:
        public = [{key: value for key, value in r.items() if not key.startswith("_")} for r in rows]
        args.json.write_text(json.dumps(public, indent=2) + "\n")
    if args.size_plot:
        size_plot(rows, args.size_plot)
    text = per_run(rows) + "\n\nMean ± standard deviation over runs of a kind and model:\n\n" + per_kind(rows)
    text += "\n\nThe unsafe examples against each other role alone:\n\n" + against_each_role(rows)
    text += "\n\nThe ranking against M1's NLL alone (no forgetting):\n\n" + gain_over_m1(rows)
    if gains := size_gains(rows):
        text += "\n\nThe larger model's ranking against the smallest's on the same examples:\n\n" + gains
    if spread := training_spread(rows):
        text += "\n\nThe same model trained again on the same examples (training noise):\n\n" + spread
    if any(r["by_safety_kind"] for r in rows):
        heading = "Each kind of unsafe example inside a run (forgetting by the ranking signal)"
        text += f"\n\n{heading}:\n\n" + per_safety_kind(rows)
    if args.rise_grid:
        text += "\n\nF1 and removed (x the unsafe count) at other rise cuts on the same scores:\n\n" + per_rise(rows)
    print(text)
    return text


if __name__ == "__main__":
    main()
