"""``forgetfilter filter``: S1, scoring, S1+, scoring, filtering, in one resumable run directory."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from forgetfilter.cli._common import console, user_errors

_DEFAULTS_NOTE = "Defaults come from forgetfilter.config.FilterConfig."


@user_errors
def filter_command(
    data: Annotated[Path, typer.Option("--data", help="Noisy finetuning data (D_noisy), any supported format.")],
    safe: Annotated[Path, typer.Option("--safe", help="Safety finetuning data (D_safe) for S1+.")],
    out: Annotated[Path, typer.Option("--out", help="Run directory; rerunning resumes finished stages.")],
    model: Annotated[str | None, typer.Option(help="Hub id, local folder or .gguf; default SmolLM2-135M.")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON FilterConfig; flags override it.")] = None,
    signal: Annotated[str | None, typer.Option(help="Deciding signal: log_nll, nll, token_accuracy, rouge.")] = None,
    token_selection: Annotated[str | None, typer.Option(help="all (every response token) or answer.")] = None,
    phi: Annotated[float | None, typer.Option(help="Fixed threshold: remove forgetting > phi.")] = None,
    fraction: Annotated[float | None, typer.Option(help="Removal budget as a fraction of the data.")] = None,
    count: Annotated[int | None, typer.Option(help="Removal budget as a number of examples.")] = None,
    threshold_method: Annotated[str | None, typer.Option(help="Label-free automatic cut: otsu or gmm.")] = None,
    s1_epochs: Annotated[float | None, typer.Option(help="Epochs of S1 on D_noisy.")] = None,
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
) -> None:
    """Flag the examples of DATA that safety finetuning makes the model forget the most.

    Example: forgetfilter filter --data d_noisy.jsonl --safe d_safe.jsonl --out runs/bias
    """
    from forgetfilter.api import find_unsafe_examples
    from forgetfilter.config import FilterConfig
    from forgetfilter.errors import ConfigError

    if merge and not retrain:
        raise ConfigError("--merge merges the retrained adapter: give --retrain too")

    cfg = load_config(config)
    flags = {
        "model": model,
        "signal": signal,
        "token_selection": token_selection,
        "phi": phi,
        "fraction": fraction,
        "count": count,
        "threshold_method": threshold_method,
        "dtype": dtype,
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if {"phi", "fraction", "count"} & given.keys():  # a threshold flag replaces the config file's, of any kind
        cfg = replace(cfg, phi=None, fraction=None, count=None)
    cfg = replace(cfg, **given)
    if s1_epochs is not None:
        cfg = replace(cfg, s1=replace(cfg.s1, epochs=s1_epochs, max_steps=None))
    if s1_plus_steps is not None:  # steps win over epochs
        cfg = replace(cfg, s1_plus=replace(cfg.s1_plus, max_steps=s1_plus_steps))
    elif s1_plus_epochs is not None:  # epochs asked for explicitly: a step count from --config no longer applies
        cfg = replace(cfg, s1_plus=replace(cfg.s1_plus, epochs=s1_plus_epochs, max_steps=None))
    cfg = FilterConfig.from_dict(cfg.to_dict())  # re-validate after overrides
    result = find_unsafe_examples(data, safe, config=cfg, out_dir=out, data_format=data_format)
    typer.echo(result.report())  # the report on stdout (`> report.md` keeps it); status lines on stderr
    console.print(f"Wrote {out}/scores.jsonl, kept/removed data, summary.md and forgetting_hist.png.")
    if not retrain:
        console.print(f"Next: finetune on the kept data, e.g. {out}/kept{Path(data).suffix or '.jsonl'}, or --retrain")
        return
    from forgetfilter.pipeline import retrain_on_kept

    kept = [ex for ex, removed in zip(result.examples, result.mask, strict=True) if not removed]
    console.print(f"Retraining the original model on the {len(kept)} kept examples (S1 settings)")
    paths = retrain_on_kept(kept, cfg, out, merge=merge)
    console.print(f"Wrote {', '.join(str(p) for p in paths.values())}")


def load_config(path: Path | None):  # noqa: ANN201 - returns FilterConfig (lazy import)
    """A FilterConfig from a YAML/JSON file, or the defaults."""
    import json

    import yaml

    from forgetfilter.config import FilterConfig
    from forgetfilter.errors import ConfigError

    if path is None:
        return FilterConfig()
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys, found {type(values).__name__}")
    try:
        return FilterConfig.from_dict(values)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
