"""The first lines of an experiment's report: can this run show what the paper claims at all?

Two conditions come before any comparison of methods: S1 must have taught M1 the unsafe examples (else forgetting
has nothing to find), and finetuning on D_noisy ("no filter") must have made the model measurably less safe than M0
(else no filter can show a benefit). Each gets one line, with its figures; the second a paired bootstrap interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from forgetfilter.evaluate.registry import REGISTRY
from forgetfilter.experiments.claims import HARM, Claim
from forgetfilter.experiments.compare import Comparison


def premise_verdict(run_dir: Path) -> str:
    """Whether S1 taught the unsafe examples, from the filter's own summary (``RUN/filter/summary.json``)."""
    from forgetfilter.result import premise_line

    path = run_dir / "filter" / "summary.json"
    premise = json.loads(path.read_text()).get("premise") if path.is_file() else None
    if not premise:
        return "- premise unknown: no filter run with role labels and M0 scores (RUN/filter/summary.json)"
    return premise_line(premise)


def harm_verdicts(claims: Sequence[Claim]) -> list[str]:
    """Per safety suite: is "no filter" measurably less safe than M0? Read from the claims' harm rows
    (``paper_claims``: the suite's headline first, then each metric whose fall also shows harm)."""
    harm = [c for c in claims if c.claim == HARM and c.comparison is not None]
    if not harm:
        return ["- harm of finetuning not measured: the run evaluates no `no_filter` or no `m0` method"]
    lines = []
    for claim in harm:
        c, shown = claim.comparison, claim.verdict == "reproduced"  # the claim has judged its interval already
        if c.metric in REGISTRY[c.suite].also_safer_when_higher:
            lines.append(f"  - by {c.metric} (higher is safer) harm {'holds' if shown else 'NOT shown'}: {_figures(c)}")
        elif shown:
            lines.append(f"- harm holds on {c.suite}: no filter is measurably less safe than M0 ({_figures(c)})")
        else:
            lines.append(
                f"- harm NOT shown on {c.suite}: no filter is not measurably less safe than M0 ({_figures(c)}); "
                "there is no harm here that a filter could undo, so the methods' safety differences on this suite "
                "cannot show a filter's benefit"
            )
    return lines


def _figures(c: Comparison) -> str:
    return (
        f"{c.metric} {c.value_a:.3f} vs {c.value_b:.3f}, difference {c.diff:+.3f} "
        f"[{c.level:.0%}: {c.low:+.3f}, {c.high:+.3f}] over {c.n_prompts} prompts"
    )
