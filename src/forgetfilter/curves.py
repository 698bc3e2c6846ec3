"""Learning and forgetting curves: teacher-forced signals of a fixed per-role sample during a session."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forgetfilter.examples import Example


def curve_sample(examples: Sequence[Example], per_role: int, *, seed: int = 0) -> list[Example]:
    """Up to ``per_role`` examples of each role (unlabelled ones count as "unknown"), in input order."""
    by_role: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_role.setdefault(ex.role or "unknown", []).append(i)
    rng = random.Random(seed)
    chosen = sorted(i for idx in by_role.values() for i in rng.sample(idx, min(per_role, len(idx))))
    return [examples[i] for i in chosen]


def curve_recorder(
    tokenizer: Any,
    sample: Sequence[Example],
    path: Path,
    *,
    session: str,
    every: int,
    token_selection: str,
    batch_size: int,
    max_length: int,
) -> Callable[[int, Any], None]:
    """An ``on_step`` callback that appends the sample's signals to ``path`` every ``every`` steps."""
    from forgetfilter.signals import teacher_forced_signals

    def record(step: int, model: Any) -> None:
        if step % every:
            return
        signals = teacher_forced_signals(
            model,
            tokenizer,
            sample,
            token_selection=token_selection,
            batch_size=batch_size,
            max_length=max_length,
            progress=False,
        )
        from forgetfilter.distributed import is_main

        if not is_main():  # every process scored its share and holds all the values; one writes them
            return
        with path.open("a", encoding="utf-8") as fh:
            for i, ex in enumerate(sample):
                row = {"session": session, "step": step, "id": ex.id, "role": ex.role or "unknown"}
                row.update({name: values[i] for name, values in signals.items()})
                fh.write(json.dumps(row) + "\n")

    return record


def read_curves(path: Path) -> list[dict[str, Any]]:
    """Rows of ``curves.jsonl``; a step recorded twice (after a resume) keeps its last value."""
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows[(row["session"], row["step"], row["id"])] = row
    return list(rows.values())


def plot_curves(
    rows: Sequence[dict[str, Any]], path: Path, *, signals: Sequence[str] = ("nll", "token_accuracy")
) -> Path:
    """Mean signal per role against step, one panel per (session, signal), like the paper's figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(rows)
    sessions = sorted(frame["session"].unique(), key=lambda s: (s != "s1", s))
    fig, axes = plt.subplots(
        len(signals), len(sessions), figsize=(5 * len(sessions), 3.4 * len(signals)), squeeze=False
    )
    for col, session in enumerate(sessions):
        part = frame[frame["session"] == session]
        for row, signal in enumerate(signals):
            ax = axes[row][col]
            means = part.groupby(["step", "role"])[signal].mean().unstack("role")
            for role in means.columns:
                ax.plot(means.index, means[role], marker="o", markersize=3, label=role)
            ax.set_title(f"{session}: {signal}")
            ax.set_xlabel("optimizer step")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
