"""``forgetfilter compare``: is one method's safety metric really different from another's in a run?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import console, user_errors

Opt = typer.Option
# the options compare and claims share
RunDir = Annotated[Path, typer.Argument(help="Experiment run directory (forgetfilter experiment --out).")]
Pooled = Annotated[
    list[Path] | None,
    Opt(help="Another run of the same config (another seed) to pool with RUN; repeat for more."),
]
Companions = Annotated[
    list[Path] | None,
    Opt(
        "--with",
        help="A run that added methods to RUN or to a --pool run (baselines, oracle or interleaved runs made with "
        "filter_from): its methods join those of the run whose data and prompts it shares (sha256 in versions.json); "
        "repeat for more.",
    ),
]


@user_errors
def compare_command(
    run: RunDir,
    method_a: Annotated[str, typer.Argument(help="Method whose value is first, e.g. forgetfilter.")],
    method_b: Annotated[list[str], typer.Argument(help="One or more methods to compare it with, e.g. no_filter.")],
    suite: Annotated[str, Opt(help="Suite: toxicity, bias, harmfulness or task.")] = "toxicity",
    pool: Pooled = None,
    companions: Companions = None,
    metric: Annotated[
        str | None,
        Opt(
            help="Metric: the suite's headline by default; bias also s_amb_parsed, accuracy_ambiguous and "
            "accuracy_ambiguous_parsed (_parsed: unparseable answers left out instead of counted wrong); task "
            "squad_f1 (its default), alpaca_rouge_l, squad_exact_match."
        ),
    ] = None,
    relative: Annotated[bool, Opt(help="(a - b) / b instead of a - b: -0.75 is '75% lower'.")] = False,
    n_boot: Annotated[int, Opt(help="Bootstrap resamples.")] = 2000,
    level: Annotated[float, Opt(help="Confidence level of the interval.")] = 0.95,
    seed: Annotated[int, Opt(help="Seed of the resampling.")] = 0,
) -> None:
    """Difference of the suite's headline metric between methods, with a paired bootstrap interval over prompts
    (pooled over seeds with --pool; s_AMB resampled over the ambiguous items only).

    Example: forgetfilter compare runs/exp-toxicity forgetfilter no_filter self_correction --suite toxicity

    With a baselines run of the same seed: forgetfilter compare runs/study-s1 forgetfilter oracle --with
    runs/study-s1-baselines
    """
    from forgetfilter.experiments.compare import compare_methods
    from forgetfilter.report import markdown_table

    rows = []
    for other in method_b:
        c = compare_methods(
            [run, *(pool or [])],
            method_a,
            other,
            suite,
            companions=companions or (),
            metric=metric,
            relative=relative,
            n_boot=n_boot,
            level=level,
            seed=seed,
        )
        rows.append(
            {
                "metric": c.metric,
                "a": c.method_a,
                "b": c.method_b,
                "value a": f"{c.value_a:.3f}",
                "value b": f"{c.value_b:.3f}",
                "a - b": f"{c.diff:+.3f}",
                f"{c.level:.0%} interval": f"[{c.low:+.3f}, {c.high:+.3f}]",
                "excludes 0": "yes" if c.excludes_zero else "no",
                "prompts": c.n_prompts,
                "runs": c.n_runs,
                **({"per run": ", ".join(f"{d:+.3f}" for d in c.per_run)} if c.per_run else {}),
            }
        )
    typer.echo(markdown_table(rows))
    console.print(
        f"Paired bootstrap over the same prompts (within each run), {n_boot} resamples, seed {seed}.", highlight=False
    )


@user_errors
def claims_command(
    run: RunDir,
    pool: Pooled = None,
    companions: Companions = None,
    n_boot: Annotated[int, Opt(help="Bootstrap resamples.")] = 2000,
) -> None:
    """The paper's claims, each with this study's figure, its 95% paired bootstrap interval (pooled over seeds with
    --pool) and a verdict: reproduced, contradicted, not shown, or not testable here.

    Example: forgetfilter claims runs/study-bias-s1 --pool runs/study-bias-s2 --pool runs/study-bias-s3
    """
    from forgetfilter.experiments.claims import claims_table, paper_claims

    typer.echo(claims_table(paper_claims([run, *(pool or [])], companions=companions or (), n_boot=n_boot)))
