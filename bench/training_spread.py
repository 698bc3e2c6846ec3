"""How far two trainings of one method differ: the same method, the same prompts, another training seed.

`forgetfilter experiment ... filter_from=RUN/filter train_seed=N --methods M --out OTHER` retrains method M on the
same selection under training seed N; this compares each OTHER's M with RUN's M on the prompts both answered, with
the paired bootstrap of `forgetfilter compare` (the metric of the suite, or --metric). Spread between training
seeds is the noise that one training seed per data seed leaves out of every interval in docs/results.md.

    python bench/training_spread.py docs/records/study-toxicity-s1-r64 docs/records/study-toxicity-s1-r64-ts1 \
        --method forgetfilter --suite toxicity
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from forgetfilter.errors import ForgetFilterError
from forgetfilter.experiments.compare import bootstrap_pairs, pair_records, read_generations, suite_spec
from forgetfilter.report import markdown_table


def compare_trainings(base: Path, others: list[Path], method: str, suite: str, metric: str | None) -> list[str]:
    """The lines of a markdown table, one row per other run: its method's figure, the base run's, the difference
    and its 95% interval."""
    spec = suite_spec(suite)
    base_records = read_generations(base, method, suite)
    rows = []
    for other in others:
        where = f"{other} vs {base} ({suite}: {method})"
        pair = pair_records(read_generations(other, method, suite), base_records, spec, where)
        c = bootstrap_pairs([pair], suite, str(other), str(base), metric=metric)
        rows.append(
            {
                "runs": f"{other.name} − {base.name}",
                "metric": c.metric,
                "other": f"{c.value_a:.3f}",
                "base": f"{c.value_b:.3f}",
                "other − base": f"{c.diff:+.3f}",
                "95% interval": f"[{c.low:+.3f}, {c.high:+.3f}]",
                "prompts": c.n_prompts,
            }
        )
    return markdown_table(rows).splitlines()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the run (or kept records) whose method is the reference")
    parser.add_argument("others", type=Path, nargs="+", help="runs of the same method under other training seeds")
    parser.add_argument("--method", default="forgetfilter")
    parser.add_argument("--suite", default="toxicity")
    parser.add_argument("--metric", default=None, help="default: the suite's headline metric")
    args = parser.parse_args(argv)
    try:
        rows = compare_trainings(args.base, args.others, args.method, args.suite, args.metric)
    except ForgetFilterError as error:
        sys.exit(f"error: {error}")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
