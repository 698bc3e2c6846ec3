"""Interleaved training session by session: the two arms after each session, and each arm's relearning, with the
paired bootstrap of `forgetfilter compare`, pooled over runs (seeds) and given per run.

`forgetfilter claims` reads only the last round; this prints every round: ForgetFilter − no filter after each noisy
and each safety session, and each arm's move from round r-1's safety session to round r's noisy one (relearning).

    python bench/interleaved_sessions.py docs/records/study-toxicity-s1-r64-interleaved \
        docs/records/study-toxicity-s2-r64-interleaved --suite toxicity
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forgetfilter.errors import ForgetFilterError
from forgetfilter.experiments.claims import interleaved_pairs  # the pairing `forgetfilter claims` uses
from forgetfilter.experiments.compare import bootstrap_pairs
from forgetfilter.experiments.interleaved import ARMS
from forgetfilter.report import markdown_table

UNFILTERED, FILTERED = ARMS


def session_pairs(rounds: int) -> list[tuple[str, str]]:
    """(a, b) session names, ``<arm>/round<r>/eval_<after>``: the arms after every session, then relearning."""
    pairs = [
        (f"{FILTERED}/round{r}/eval_{s}", f"{UNFILTERED}/round{r}/eval_{s}")
        for r in range(1, rounds + 1)
        for s in ("noisy", "safe")
    ]
    pairs += [
        (f"{arm}/round{r}/eval_noisy", f"{arm}/round{r - 1}/eval_safe")
        for arm in (FILTERED, UNFILTERED)
        for r in range(2, rounds + 1)
    ]
    return pairs


def rounds_in(run: Path) -> int:
    """Rounds whose four sessions are all evaluated in ``run``."""
    r = 0
    while all(
        (run / "interleaved" / arm / f"round{r + 1}" / f"eval_{s}").is_dir() for arm in ARMS for s in ("noisy", "safe")
    ):
        r += 1
    return r


def compare_sessions(runs: list[Path], suite: str, metric: str | None) -> list[str]:
    """The lines of a markdown table: per session pair, the pooled figures, difference, interval and each run's
    difference."""
    rounds = min(rounds_in(run) for run in runs)
    if rounds == 0:
        raise ForgetFilterError(f"no round with all four sessions evaluated in every run of {[str(r) for r in runs]}")
    rows = []
    for a, b in session_pairs(rounds):
        pairs = interleaved_pairs([run / "interleaved" for run in runs], a, b, suite)
        pooled = bootstrap_pairs(pairs, suite, a, b, metric=metric)
        each = [bootstrap_pairs([p], suite, a, b, metric=metric).diff for p in pairs]
        rows.append(
            {
                "a − b": f"{a} − {b}",
                "metric": pooled.metric,
                "a": f"{pooled.value_a:.3f}",
                "b": f"{pooled.value_b:.3f}",
                "a − b, pooled [95%]": f"{pooled.diff:+.3f} [{pooled.low:+.3f}, {pooled.high:+.3f}]",
                "each run": ", ".join(f"{d:+.3f}" for d in each),
                "prompts": pooled.n_prompts,
            }
        )
    return markdown_table(rows).splitlines()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="runs (or kept records) with interleaved/, one per seed")
    parser.add_argument("--suite", default="toxicity")
    parser.add_argument("--metric", default=None, help="default: the suite's headline metric")
    args = parser.parse_args(argv)
    try:
        rows = compare_sessions(args.runs, args.suite, args.metric)
    except ForgetFilterError as error:
        sys.exit(f"error: {error}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
