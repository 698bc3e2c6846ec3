"""The accelerate config files in configs/accelerate: each is read by accelerate's own launcher into the environment
its processes get; the DDP one starts 2 processes on this CPU machine that forgetfilter joins over gloo."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "accelerate").glob("*.yaml"))
EXPECTED = {  # what each file asks of accelerate launch
    "ddp-8gpu": {"distributed_type": "MULTI_GPU", "num_processes": 8, "num_machines": 1, "env": {}},
    "ddp-2nodes": {"distributed_type": "MULTI_GPU", "num_processes": 16, "num_machines": 2, "env": {}},
    "fsdp-8gpu": {
        "distributed_type": "FSDP",
        "num_processes": 8,
        "num_machines": 1,
        "env": {"ACCELERATE_USE_FSDP": "true", "FSDP_USE_ORIG_PARAMS": "false", "FSDP_SHARDING_STRATEGY": "FULL_SHARD"},
    },
    "deepspeed-zero3-8gpu": {
        "distributed_type": "DEEPSPEED",
        "num_processes": 8,
        "num_machines": 1,
        "env": {
            "ACCELERATE_USE_DEEPSPEED": "true",
            "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3",
            "ACCELERATE_GRADIENT_CLIPPING": "1.0",
            "ACCELERATE_DEEPSPEED_ZERO3_SAVE_16BIT_MODEL": "true",
        },
    },
}


def test_every_shipped_config_is_checked():
    assert sorted(p.stem for p in CONFIGS) == sorted(EXPECTED)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_accelerate_launch_reads_the_config_into_its_processes_environment(path):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    expected = EXPECTED[path.stem]
    argv = ["--config_file", str(path), "-m", "forgetfilter", "filter"]
    args, defaults, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    assert defaults.distributed_type.name == expected["distributed_type"]
    assert (args.num_processes, args.num_machines, args.mixed_precision) == (
        expected["num_processes"],
        expected["num_machines"],
        "no",  # forgetfilter's dtype decides the precision
    )
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    assert {k: env.get(k) for k in expected["env"]} == expected["env"]


@pytest.mark.slow
def test_the_ddp_config_starts_two_processes_on_cpus(tmp_path):
    """On a machine without GPUs accelerate's multi-GPU launcher still starts the processes; forgetfilter joins
    them with cpu=True (gloo), where accelerate alone would leave each process by itself."""
    script = tmp_path / "join.py"
    script.write_text(
        "from forgetfilter import distributed as d\n"
        "acc = d.accelerator()\n"
        "print(f'rank {d.rank()} of {d.world_size()} {acc.distributed_type.name} {d.gather_by_index({d.rank(): 1})}')\n"
    )
    config = next(p for p in CONFIGS if p.stem == "ddp-8gpu")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [*command, "--num_processes", "2", "--main_process_port", "0", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank} of 2 MULTI_CPU {{0: 1, 1: 1}}" in done.stdout
