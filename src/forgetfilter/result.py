"""The outcome of a ForgetFilter run: per-example scores, the removal mask, quality and a report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from datasets import Dataset

from forgetfilter.data.files import Layout
from forgetfilter.examples import Example
from forgetfilter.selection import AUTO_METHODS, Threshold, choose_threshold, filter_mask, filter_quality, forgetting


@dataclass
class ForgetFilterResult:
    """Scores aligned to the input, ``mask`` True = removed, and metrics as plain floats."""

    examples: list[Example]
    signal: str
    before: dict[str, list[Any]]
    after: dict[str, list[Any]]
    threshold: Threshold
    mask: np.ndarray
    stages: dict[str, dict[str, Any]]
    layout: Layout | None = None  # the input file's layout (JSON wrapper, parquet column types)
    reference: dict[str, list[Any]] | None = None  # the signals under M0 (no finetuning), when the run scored it
    canaries: dict[str, dict[str, list[Any]]] | None = None  # known-benign canaries' signals under m0/m1/m2

    @property
    def scores(self) -> np.ndarray:
        """Forgetting of the filtering signal; higher = forgotten more = more likely unsafe."""
        return forgetting(self.before[self.signal], self.after[self.signal], self.signal)

    @property
    def has_labels(self) -> bool:
        return any(ex.role is not None for ex in self.examples)

    def rows(self) -> list[dict[str, Any]]:
        """One row per example, in input order, with every signal before/after and its forgetting (the rows of
        ``RUN/scores.jsonl``)."""
        rows = []
        scores = self.scores
        rank = np.empty(len(scores), dtype=int)
        rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
        numeric = [s for s in self.before if s != "generations"]
        forgot = {s: forgetting(self.before[s], self.after[s], s) for s in numeric}
        for i, ex in enumerate(self.examples):
            row: dict[str, Any] = {
                "id": ex.id,
                "role": ex.role,
                "source": ex.source,
                "forgetting": float(scores[i]),
                "removed": bool(self.mask[i]),
                "rank": int(rank[i]),
            }
            for s in numeric:
                row[f"{s}_m1"], row[f"{s}_m2"] = float(self.before[s][i]), float(self.after[s][i])
                row[f"forgetting_{s}"] = float(forgot[s][i])
            rows.append(row)
        return rows

    def table(self) -> pd.DataFrame:
        """A pandas DataFrame indexed by example id, in input order (cleanlab's ``label_issues`` shape): role,
        source, forgetting, removed, rank, every signal on M1 and M2 and its forgetting, and the greedy answers
        ``generation_m1``/``generation_m2`` when the run computed them (the ``rouge`` signal).
        ``result.table().sort_values("rank")`` lists the most forgotten first."""
        import pandas as pd

        frame = pd.DataFrame(self.rows()).set_index("id")
        if "generations" in self.before and "generations" in self.after:
            frame["generation_m1"] = list(self.before["generations"])
            frame["generation_m2"] = list(self.after["generations"])
        return frame

    def to_frame(self) -> pd.DataFrame:
        """The same DataFrame as ``table()`` (the name it had first)."""
        return self.table()

    def kept(self) -> list[Example]:
        """The examples the mask keeps, in input order."""
        return [ex for ex, removed in zip(self.examples, self.mask, strict=True) if not removed]

    def to_datasets(self, *, format: str | None = None) -> Dataset:
        """The kept examples as a Hugging Face ``datasets.Dataset`` for TRL's ``SFTTrainer``.

        ``format=None`` keeps the input's own columns (a ``messages`` or ``prompt``/``completion`` file gives
        those columns; parquet keeps its column types); ``format="native"`` gives forgetfilter's records:
        ``messages`` for chat examples, ``prompt``/``completion`` for plain text (also for alpaca or sharegpt input).
        """
        from forgetfilter.data.hf import to_dataset

        return to_dataset(self.kept(), format=format, layout=self.layout)

    def ranked(self) -> list[Example]:
        """Examples from most to least forgotten (most likely unsafe first)."""
        return [self.examples[i] for i in np.argsort(-self.scores, kind="stable")]

    def quality(self) -> dict[str, dict[str, float]]:
        """Per signal: AUROC, and precision/recall/F1 of the mask that signal would give under the same rule.

        The deciding signal reports its own mask. Another signal gets the same automatic method (otsu, robust_otsu,
        gmm, canary) or the same removal budget applied to its own scores; under a fixed ``phi`` or the ``rise`` cut
        (values on the deciding signal's scale) other signals report AUROC only. Empty without role labels.
        """
        if not self.has_labels:
            return {}
        unsafe = [ex.role == "unsafe" for ex in self.examples]
        out = {}
        for s in (k for k in self.before if k != "generations"):
            scores = forgetting(self.before[s], self.after[s], s)
            if s == self.signal:
                out[s] = filter_quality(self.mask, scores, unsafe)
            elif self.threshold.budget is not None:
                budget = Threshold(phi=float("nan"), method=self.threshold.method, budget=self.threshold.budget)
                out[s] = filter_quality(filter_mask(scores, budget), scores, unsafe)
            elif self.threshold.method in AUTO_METHODS:
                canary: dict[str, Any] = {}  # the canary cut of this signal: its own canaries, the run's rate
                if self.threshold.method == "canary" and self.canaries:
                    null = forgetting(self.canaries["m1"][s], self.canaries["m2"][s], s)
                    canary = {"null": null, "fpr": self.threshold.fpr}
                own = choose_threshold(scores, method=self.threshold.method, **canary)
                out[s] = {**filter_quality(filter_mask(scores, own), scores, unsafe), "phi": own.phi}
            else:
                out[s] = {"auroc": filter_quality(self.mask, scores, unsafe)["auroc"]}
        return out

    def learned_by_role(self) -> dict[str, dict[str, float]]:
        """Mean of each signal under M0 (when scored), M1 (after S1) and M2 per role: whether S1 taught M1 the
        examples at all.

        An example M1 never learned cannot be forgotten, so read forgetting only where M1 learned the unsafe role
        (NLL well below M0's and below the rest's).
        """
        roles = np.array([ex.role or "unknown" for ex in self.examples])
        out: dict[str, dict[str, float]] = {}
        for s in (k for k in ("nll", "token_accuracy") if k in self.before):
            stages = (("m0", (self.reference or {}).get(s)), ("m1", self.before[s]), ("m2", self.after[s]))
            for stage, values in ((stage, values) for stage, values in stages if values is not None):
                v = np.asarray(values, dtype=float)
                out[f"{s}_{stage}"] = {r: float(v[roles == r].mean()) for r in sorted(set(roles))}
        return out

    def premise(self) -> dict[str, Any]:
        """Did S1 teach M1 the unsafe examples at least as much as the rest? (empty without role labels, unsafe
        examples, or M0 scores). Compares the relative fall of the mean response NLL from M0 to M1 of the unsafe
        examples with that of every other example; ``holds`` is False when the unsafe fell less, which is when
        forgetting has little to find (docs/signal-study.md)."""
        reference = (self.reference or {}).get("nll")
        if not self.has_labels or reference is None or "nll" not in self.before:
            return {}
        unsafe = np.array([ex.role == "unsafe" for ex in self.examples])
        if unsafe.all() or not unsafe.any():
            return {}
        m0, m1 = np.asarray(reference, dtype=float), np.asarray(self.before["nll"], dtype=float)
        out: dict[str, Any] = {}
        for name, rows in (("unsafe", unsafe), ("rest", ~unsafe)):
            before, after = float(m0[rows].mean()), float(m1[rows].mean())
            out[name] = {"nll_m0": before, "nll_m1": after, "fall": 1.0 - after / before if before > 0 else 0.0}
        out["holds"] = out["unsafe"]["fall"] >= out["rest"]["fall"]
        return out

    def baselines(self) -> dict[str, float]:
        """AUROC of rankings that need no forgetting, for comparison (empty without role labels or M0 scores):
        ``m0_nll``, the response's NLL under the aligned model M0 (the less likely, the more suspect), and
        ``m1_nll``, its NLL after S1."""
        if not self.has_labels:
            return {}
        unsafe = np.array([ex.role == "unsafe" for ex in self.examples])
        out = {}
        for name, scores in (("m0_nll", (self.reference or {}).get("nll")), ("m1_nll", self.before.get("nll"))):
            if scores is not None:
                out[name] = filter_quality(np.zeros(len(unsafe), bool), scores, unsafe)["auroc"]
        return out

    def canary_summary(self) -> dict[str, Any]:
        """The known-benign canaries (empty without them): how many, their mean forgetting, and the share of them
        above the cut (the false-positive rate the canary threshold aims at)."""
        if not self.canaries or not self.canaries["m1"].get(self.signal):
            return {}
        scores = forgetting(self.canaries["m1"][self.signal], self.canaries["m2"][self.signal], self.signal)
        out: dict[str, Any] = {
            "n": len(scores),
            "mean_forgetting": float(scores.mean()),
            "share_above_cut": float((scores > self.threshold.phi).mean()),
        }
        for stage in ("m0", "m1", "m2"):
            if "nll" in self.canaries.get(stage, {}):
                out[f"nll_{stage}"] = float(np.mean(self.canaries[stage]["nll"]))
        return out

    def role_means(self) -> dict[str, dict[str, float]]:
        """Mean forgetting per role (unlabelled examples under "unknown") for every signal."""
        out: dict[str, dict[str, float]] = {}
        roles = np.array([ex.role or "unknown" for ex in self.examples])
        for s in (k for k in self.before if k != "generations"):
            f = forgetting(self.before[s], self.after[s], s)
            out[s] = {r: float(f[roles == r].mean()) for r in sorted(set(roles))}
        return out

    def summary(self) -> dict[str, Any]:
        n_removed = int(self.mask.sum())
        return {
            "n_examples": len(self.examples),
            "n_removed": n_removed,
            "n_kept": len(self.examples) - n_removed,
            "signal": self.signal,
            "threshold": {
                "phi": self.threshold.phi,
                "method": self.threshold.method,
                "budget": self.threshold.budget,
                **({"fpr": self.threshold.fpr} if self.threshold.fpr is not None else {}),
            },
            "removed_by_role": _count_roles([ex for ex, m in zip(self.examples, self.mask, strict=True) if m]),
            "kept_by_role": _count_roles([ex for ex, m in zip(self.examples, self.mask, strict=True) if not m]),
            "quality": self.quality(),
            "mean_forgetting_by_role": self.role_means(),
            "learned_by_role": self.learned_by_role(),
            "premise": self.premise(),
            "baselines": self.baselines(),
            "canaries": self.canary_summary(),
            "stages": self.stages,
        }

    def report(self) -> str:
        """A short human-readable summary (markdown)."""
        s = self.summary()
        lines = [
            f"# ForgetFilter: removed {s['n_removed']} of {s['n_examples']} examples",
            "",
            f"- signal: `{self.signal}`; threshold: phi = {_fmt(self.threshold.phi)} ({_describe(self.threshold)})",
            f"- removed by role: {s['removed_by_role']}",
            f"- kept by role: {s['kept_by_role']}",
        ]
        if "precision" in self.stages:
            p = self.stages["precision"]
            where = f"{p.get('device')}, {p.get('threads')} threads"
            lines.append(f"- precision: {p.get('dtype')} on {where} ({p.get('reason')})")
        if "s1" in self.stages:
            lines.append(s1_line(self.stages["s1"]))
        if s["premise"]:
            lines.append(premise_line(s["premise"]))
        if s["quality"]:
            lines += ["", "| signal | AUROC | precision | recall | F1 |", "|---|---|---|---|---|"]
            for sig, q in s["quality"].items():
                lines.append(
                    f"| {sig} | {_fmt(q['auroc'])} | {_fmt(q.get('precision'))} | {_fmt(q.get('recall'))} "
                    f"| {_fmt(q.get('f1'))} |"
                )
        if s["canaries"]:
            c = s["canaries"]
            lines.append(
                f"- canaries: {c['n']} known-benign examples, mean forgetting {_fmt(c['mean_forgetting'])}, "
                f"{c['share_above_cut']:.1%} of them above the cut"
            )
        if s["baselines"]:
            ranked = ", ".join(f"{name} {_fmt(value)}" for name, value in s["baselines"].items())
            lines += ["", f"Baselines without forgetting (AUROC of the NLL itself): {ranked}."]
        lines += [
            "",
            "| signal | " + " | ".join(f"mean forgetting ({r})" for r in self._roles()) + " |",
            "|---|" + "---|" * len(self._roles()),
        ]
        for sig, means in s["mean_forgetting_by_role"].items():
            lines.append(f"| {sig} | " + " | ".join(_fmt(means.get(r)) for r in self._roles()) + " |")
        if s["learned_by_role"]:
            lines += [
                "",
                "Learned in S1? Mean under M1 (after S1) and M2 (after S1+) per role; forgetting means something only "
                "where M1 learned the unsafe examples.",
                "",
                "| measure | " + " | ".join(self._roles()) + " |",
                "|---|" + "---|" * len(self._roles()),
            ]
            for name, means in s["learned_by_role"].items():
                lines.append(f"| {name} | " + " | ".join(_fmt(means.get(r)) for r in self._roles()) + " |")
        if self.stages:
            lines += ["", "| stage | seconds | throughput |", "|---|---|---|"]
            for name, st in self.stages.items():
                if "seconds" not in st:
                    continue
                rate = (
                    f"{st['tokens_per_s']:.0f} tok/s"
                    if "tokens_per_s" in st
                    else f"{st.get('examples_per_s', 0):.1f} ex/s"
                )
                lines.append(f"| {name} | {st['seconds']:.1f} | {rate} |")
        return "\n".join(lines) + "\n"

    def _roles(self) -> list[str]:
        return sorted({ex.role or "unknown" for ex in self.examples})


def s1_line(stage: dict[str, Any]) -> str:
    """One line on how long S1 trained and, with ``until: learned``, whether it stopped because D_noisy was learned."""
    steps = f"{stage.get('steps', '?')} steps"
    if stage.get("until") != "learned":
        return f"- S1: {steps} (a fixed number)"
    epoch, cap = stage.get("learned_at_epoch"), stage.get("max_epochs")
    if epoch is None:
        return (
            f"- S1: {steps}, until learned: reached the cap of {_fmt_epochs(cap)} epochs with the loss still "
            "improving (raise s1.max_epochs to learn D_noisy further)"
        )
    tolerance = stage.get("tolerance")
    by = f" by less than {tolerance:.0%}" if isinstance(tolerance, int | float) else ""
    return f"- S1: {steps}, until learned: stopped after epoch {epoch} (the loss improved{by} over that epoch)"


def _fmt_epochs(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def premise_line(premise: dict[str, Any]) -> str:
    """One line on whether S1 taught the unsafe examples (``ForgetFilterResult.premise``)."""
    u, r = premise["unsafe"], premise["rest"]
    figures = (
        f"mean response NLL M0 -> M1: unsafe {_fmt(u['nll_m0'])} -> {_fmt(u['nll_m1'])} ({-u['fall']:+.0%}), "
        f"the rest {_fmt(r['nll_m0'])} -> {_fmt(r['nll_m1'])} ({-r['fall']:+.0%})"
    )
    if premise["holds"]:
        return f"- premise holds: S1 taught the unsafe examples at least as much as the rest ({figures})"
    return (
        f"- premise NOT met: S1 taught the unsafe examples less than the rest ({figures}); forgetting cannot find "
        "what M1 did not learn, so read the scores below with care (S1 with more capacity or a larger model may "
        "teach them: docs/signal-study.md)"
    )


def _count_roles(examples: Sequence[Example]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ex in examples:
        counts[ex.role or "unknown"] = counts.get(ex.role or "unknown", 0) + 1
    return dict(sorted(counts.items()))


def _describe(threshold: Threshold) -> str:
    """The cut's method, and for ``rise`` what it means in NLL."""
    if threshold.method == "rise":
        return f"rise: response NLL up more than {math.expm1(threshold.phi):.0%} in S1+"
    return threshold.method


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.3f}"


def write_outputs(result: ForgetFilterResult, run_dir: Path, *, suffix: str) -> dict[str, Path]:
    """scores.jsonl, kept/removed in the input's own schema and layout (``result.layout``), summary.json/.md and
    the histogram."""
    from forgetfilter.data.formats import write_examples
    from forgetfilter.plots import forgetting_histogram

    paths = {
        "scores": run_dir / "scores.jsonl",
        "kept": run_dir / f"kept{suffix}",
        "removed": run_dir / f"removed{suffix}",
        "summary": run_dir / "summary.json",
        "report": run_dir / "summary.md",
        "histogram": run_dir / "forgetting_hist.png",
    }
    with paths["scores"].open("w", encoding="utf-8") as fh:
        for row in result.rows():
            fh.write(json.dumps(row) + "\n")
    for name, flagged in (("kept", False), ("removed", True)):
        part = [ex for ex, m in zip(result.examples, result.mask, strict=True) if bool(m) == flagged]
        write_examples(part, paths[name], format=None, layout=result.layout)
    paths["summary"].write_text(json.dumps(result.summary(), indent=2, default=float))
    forgetting_histogram(
        result.scores,
        [ex.role or "unknown" for ex in result.examples],
        result.threshold.phi,
        paths["histogram"],
        signal=result.signal,
    )
    if (run_dir / "curves.jsonl").is_file():
        from forgetfilter.curves import plot_curves, read_curves

        paths["curves"] = plot_curves(read_curves(run_dir / "curves.jsonl"), run_dir / "curves.png")
    paths["report"].write_text(result.report())
    return paths
