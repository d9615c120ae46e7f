"""Option parsing and the settings checks that need no data."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from diffusion_course.errors import UsageError
from diffusion_course.options import (
    DIFFUSERS_NAMES,
    PRESETS,
    RESUME_KEYS,
    TrainConfig,
    build_parser,
    parse_args,
    validate_config,
)


def test_defaults_are_the_16px_digits_recipe():
    config = parse_args(["--output-dir", "out"])
    assert config.data_source == "digits"
    assert (config.resolution, config.channels, config.model) == (16, 1, "tiny")
    assert config.prediction_type == "epsilon" and config.use_ema
    assert config == TrainConfig(output_dir="out")  # the parser's defaults are the fields'


def test_every_documented_option_parses():
    config = parse_args(
        "--output-dir o --data-dir d --resolution 32 --channels 3 --model small "
        "--prediction-type v_prediction --beta-schedule squaredcos_cap_v2 --batch-size 8 "
        "--max-steps 7 --lr 2e-4 --lr-scheduler constant_with_warmup --lr-warmup-steps 3 "
        "--gradient-accumulation-steps 2 --mixed-precision bf16 --no-ema --seed 5 "
        "--checkpointing-steps 3 --checkpoints-total-limit 4 --resume latest "
        "--save-samples-steps 2 --push-to-hub --hub-model-id me/model".split()
    )
    assert config.data_source == "folder:d"
    assert config.train_batch_size == 8 and config.max_train_steps == 7
    assert config.learning_rate == 2e-4 and not config.use_ema
    assert config.prediction_type == "v_prediction" and config.resume == "latest"
    assert config.push_to_hub and config.hub_model_id == "me/model"


@pytest.mark.parametrize(
    "argv",
    [
        [],  # --output-dir is required
        ["--output-dir", "o", "--prediction-type", "x0"],
        ["--output-dir", "o", "--max-steps", "0"],
        ["--output-dir", "o", "--lr", "-1"],
        ["--output-dir", "o", "--data-dir", "a", "--dataset-name", "b"],
        ["--output-dir", "o", "--channels", "2"],
    ],
)
def test_bad_values_are_refused_by_argparse(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_resolution_must_fit_the_preset():
    with pytest.raises(UsageError, match="multiple of 8"):
        validate_config(parse_args(["--output-dir", "o", "--resolution", "12"]))
    validate_config(parse_args(["--output-dir", "o", "--resolution", "24"]))


def test_hub_model_id_needs_push_to_hub():
    with pytest.raises(UsageError, match="--push-to-hub"):
        validate_config(parse_args(["--output-dir", "o", "--hub-model-id", "me/x"]))


def test_step_count_from_steps_epochs_or_default():
    config = parse_args(["--output-dir", "o", "--batch-size", "10", "--num-epochs", "3"])
    assert config.total_steps(95) == 30  # 10 steps per epoch, the last batch short
    assert config.total_steps(100) == 30 and config.total_steps(101) == 33
    assert config.total_steps(95, num_processes=2) == 15
    assert dataclasses.replace(config, max_train_steps=4).total_steps(95) == 4
    assert parse_args(["--output-dir", "o"]).total_steps(95) == 1000
    assert parse_args(["--output-dir", "o", "--max-minutes", "2"]).total_steps(95) is None


def test_resume_signature_holds_what_changes_the_model():
    signature = parse_args(["--output-dir", "o", "--model", "small"]).resume_signature()
    assert set(signature) == set(RESUME_KEYS) and signature["model"] == "small"
    assert "max_train_steps" not in signature  # a resumed run may be extended


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_build_a_unet_of_the_right_shape(preset):
    size = max(16, 2 ** len(PRESETS[preset]["block_out_channels"]))
    config = TrainConfig("o", model=preset, resolution=size, channels=3)
    validate_config(config)
    kwargs = config.unet_kwargs()
    assert kwargs["sample_size"] == size and kwargs["in_channels"] == kwargs["out_channels"] == 3
    unet = config.build_unet()
    with torch.no_grad():
        out = unet(torch.zeros(2, 3, size, size), torch.tensor([0, 999])).sample
    assert out.shape == (2, 3, size, size)


def test_presets_grow_in_size():
    unets = [TrainConfig("o", model=name).build_unet() for name in PRESETS]
    sizes = [sum(p.numel() for p in unet.parameters()) for unet in unets]
    assert sizes == sorted(sizes) and 0.5e6 < sizes[0] < 2e6  # tiny, small, base


def test_every_option_has_help_and_every_setting_an_option():
    parser = build_parser()
    options = [a for a in parser._actions if a.dest != "help"]
    assert {a.dest for a in options} == {f.name for f in dataclasses.fields(TrainConfig)}
    for action in options:
        assert action.help and len(action.help) > 10, action.dest
    text = parser.format_help()
    assert "--lr-warmup-steps LR_WARMUP_STEPS\n" in text and "(default: 100)" in text


def test_diffusers_option_names_are_accepted():
    ours = parse_args(
        "--output-dir o --data-dir d --train-batch-size 8 --num-train-timesteps 50 "
        "--beta-schedule squaredcos_cap_v2 --resume latest --use-ema --overwrite".split()
    )
    theirs = parse_args(
        "--output_dir=o --train_data_dir d --train_batch_size=8 --ddpm_num_steps 50 "
        "--ddpm_beta_schedule squaredcos_cap_v2 --resume_from_checkpoint latest --use_ema "
        "--overwrite_output_dir".split()
    )
    assert theirs == ours
    for name in DIFFUSERS_NAMES.values():
        assert name in build_parser().format_help()


@pytest.mark.parametrize(
    "argv",
    [
        ["--output-dir", "o"],
        "--output-dir o --no-ema --max-steps 7 --lr 2e-4 --channels 3 --random-flip".split(),
        "--output-dir o --max-minutes 1.5 --lr-scheduler constant --hub-model-id a/b".split(),
    ],
)
def test_to_argv_round_trips(argv):
    config = parse_args(argv)
    assert parse_args(config.to_argv()) == config
    assert len(config.to_argv()) <= len(argv)  # only what differs from the defaults


def test_configs_built_in_code_are_checked_like_the_command_line():
    with pytest.raises(UsageError, match="--learning-rate/--lr: must be a positive number"):
        validate_config(TrainConfig("o", learning_rate=-1.0))
    with pytest.raises(UsageError, match="--beta-schedule: invalid choice: 'cosine'"):
        validate_config(TrainConfig("o", beta_schedule="cosine"))
    with pytest.raises(UsageError, match="--ema-max-decay: must be between 0 and 1"):
        validate_config(TrainConfig("o", ema_max_decay=1.0))
    with pytest.raises(UsageError, match="--dataset-name: not allowed with argument --data-dir"):
        validate_config(TrainConfig("o", data_dir="a", dataset_name="b"))


def test_time_budget_alone_needs_a_schedule_without_end():
    with pytest.raises(UsageError, match="--max-minutes alone"):
        validate_config(parse_args(["--output-dir", "o", "--max-minutes", "3"]))
    validate_config(parse_args("--output-dir o --max-minutes 3 --max-steps 9".split()))
    argv = "--output-dir o --max-minutes 3 --lr-scheduler constant_with_warmup".split()
    validate_config(parse_args(argv))
