"""``forgetfilter filter``: S1, scoring, S1+, scoring, filtering, in one resumable run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from forgetfilter.cli._common import CountOption, FractionOption, PhiOption, console, user_errors

_DEFAULTS_NOTE = "Defaults come from forgetfilter.config.FilterConfig."


@user_errors
def filter_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(help="key=value settings over --config, e.g. s1.epochs=4 s1_plus.max_steps=100 lora.r=16."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Noisy finetuning data (D_noisy), any supported format.")
    ] = None,
    safe: Annotated[Path | None, typer.Option("--safe", help="Safety finetuning data (D_safe) for S1+.")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory; rerunning resumes finished stages.")] = None,
    model: Annotated[
        str | None, typer.Option(help="qwen2.5-0.5b, qwen2.5-1.5b, hub id, folder or .gguf; default SmolLM2-135M.")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON FilterConfig; flags override it.")] = None,
    signal: Annotated[str | None, typer.Option(help="Deciding signal: log_nll, nll, token_accuracy, rouge.")] = None,
    token_selection: Annotated[str | None, typer.Option(help="all (every response token) or answer.")] = None,
    phi: PhiOption = None,
    fraction: FractionOption = None,
    count: CountOption = None,
    threshold_method: Annotated[
        str | None,
        typer.Option(
            help="Label-free cut: rise (the default, log_nll only: remove when S1+ raised the response NLL by more "
            "than e^rise - 1; rise=X sets it), otsu, robust_otsu (Otsu on scores clipped to Tukey's fences), gmm, "
            "or canary (with canaries=K)."
        ),
    ] = None,
    s1_epochs: Annotated[
        float | None, typer.Option(help="Epochs of S1 on D_noisy (default: until learned, at most 10).")
    ] = None,
    s1_plus_epochs: Annotated[float | None, typer.Option(help="Epochs of S1+ on D_safe.")] = None,
    s1_plus_steps: Annotated[int | None, typer.Option(help="Optimizer steps of S1+ (overrides epochs).")] = None,
    data_format: Annotated[str | None, typer.Option("--format", help="Override format detection.")] = None,
    dtype: Annotated[
        str | None,
        typer.Option(help="auto (bf16 where this machine computes it faster, measured), float32, bfloat16, float16."),
    ] = None,
    retrain: Annotated[
        bool, typer.Option(help="Then finetune the original model on the kept data (S1 settings): OUT/retrain/adapter.")
    ] = False,
    merge: Annotated[
        bool, typer.Option(help="With --retrain: also OUT/retrain/merged, a model folder transformers loads directly.")
    ] = False,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved configuration as YAML and exit.")
    ] = False,
) -> None:
    """Flag the examples of DATA that safety finetuning makes the model forget the most.

    Example: forgetfilter filter --data d_noisy.jsonl --safe d_safe.jsonl --out runs/bias
    """
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.errors import ConfigError

    flags = {
        "model": model,
        "signal": signal,
        "token_selection": token_selection,
        "phi": phi,
        "fraction": fraction,
        "count": count,
        "threshold_method": threshold_method,
        "dtype": dtype,
        "s1.epochs": s1_epochs,
        "s1_plus.epochs": s1_plus_epochs,
        "s1_plus.max_steps": s1_plus_steps,
    }
    cfg = resolve_config(config, list(overrides or []), {k: v for k, v in flags.items() if v is not None})
    if print_config:
        import yaml

        typer.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False), nl=False)
        return
    if data is None or safe is None or out is None:
        missing = [name for name, v in (("--data", data), ("--safe", safe), ("--out", out)) if v is None]
        raise ConfigError(f"{' and '.join(missing)} required (see forgetfilter filter --help)")
    if merge and not retrain:
        raise ConfigError("--merge merges the retrained adapter: give --retrain too")
    from forgetfilter.distributed import is_main

    result = find_unsafe_examples(data, safe, config=cfg, out_dir=out, data_format=data_format)
    say = console.print if is_main() else _quiet  # launched in several processes, the main one reports
    if is_main():
        typer.echo(result.report())  # the report on stdout (`> report.md` keeps it); status lines on stderr
    if result.premise().get("holds") is False:
        say("[yellow]warning:[/] S1 taught the unsafe examples less than the rest (the report's premise line)")
    say(f"Wrote {out}/scores.jsonl, kept/removed data, summary.md and forgetting_hist.png.")
    if not retrain:
        say(f"Next: check the decisions in a browser: forgetfilter review {out}")
        say(f"Then finetune on the kept data, e.g. {out}/kept{Path(data).suffix or '.jsonl'}, or --retrain")
        return
    from forgetfilter.pipeline import retrain_on_kept

    kept = [ex for ex, removed in zip(result.examples, result.mask, strict=True) if not removed]
    say(f"Retraining the original model on the {len(kept)} kept examples (S1 settings)")
    paths = retrain_on_kept(kept, cfg, out, merge=merge)
    say(f"Wrote {', '.join(str(p) for p in paths.values())}")


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """What a process other than the main one prints: nothing."""


def resolve_config(path: Path | None, overrides: list[str], flags: dict[str, Any]) -> Any:
    """The FilterConfig of a command line: the file's values (or the defaults), then ``key=value`` overrides, then
    flags. A threshold given on the command line replaces the file's threshold of any kind; ``--s1-epochs`` and
    ``--s1-plus-epochs`` clear a step count from the file (steps win over epochs when both are flags), and
    ``--s1-epochs`` trains S1 for that many epochs instead of until learned."""
    from forgetfilter.config import CUT_KEYS, FilterConfig
    from forgetfilter.config_io import apply_overrides, from_dict, read_mapping, set_dotted
    from forgetfilter.errors import ConfigError

    values = read_mapping(path) if path is not None else {}
    if "s1.epochs" in flags:  # a number of epochs: train for them, not until learned
        flags = {"s1.max_steps": None, "s1.until": "steps", **flags}
    if "s1_plus.epochs" in flags and "s1_plus.max_steps" not in flags:
        flags = {**flags, "s1_plus.max_steps": None}
    given = [item.partition("=")[0].strip() for item in overrides] + list(flags)
    cleared = {k: None for k in CUT_KEYS if k not in given} if set(CUT_KEYS) & set(given) else {}
    try:
        values = apply_overrides(values, overrides)
        for key, value in {**cleared, **flags}.items():
            set_dotted(values, key, value)
        return from_dict(FilterConfig, values)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path is not None else str(exc)) from None
