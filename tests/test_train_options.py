"""Option parsing and the settings checks that need no data."""

from __future__ import annotations

import pytest

from diffusion_course.errors import UsageError
from diffusion_course.options import (
    RESUME_KEYS,
    build_parser,
    parse_args,
    steps_per_epoch,
    total_steps,
    validate_config,
)
from diffusion_course.presets import PRESETS, build_unet, min_resolution, unet_kwargs


def test_defaults_are_the_16px_digits_recipe():
    config = parse_args(["--output-dir", "out"])
    assert config.data_source == "digits"
    assert (config.resolution, config.channels, config.model) == (16, 1, "tiny")
    assert config.prediction_type == "epsilon" and config.use_ema
    assert config.argv == ["--output-dir", "out"]


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
    assert steps_per_epoch(config, 95) == 10
    assert total_steps(config, 95) == 30
    assert total_steps(config, 95, num_processes=2) == 15
    config.max_train_steps = 4
    assert total_steps(config, 95) == 4
    assert total_steps(parse_args(["--output-dir", "o"]), 95) == 1000


def test_resume_signature_holds_what_changes_the_model():
    signature = parse_args(["--output-dir", "o", "--model", "small"]).resume_signature()
    assert set(signature) == set(RESUME_KEYS) and signature["model"] == "small"
    assert "max_train_steps" not in signature  # a resumed run may be extended


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_presets_build_a_unet_of_the_right_shape(preset):
    size = max(16, min_resolution(preset))
    kwargs = unet_kwargs(preset, size, 3)
    assert kwargs["sample_size"] == size and kwargs["in_channels"] == 3
    if preset == "tiny":
        unet = build_unet(preset, size, 1)
        assert 0.5e6 < sum(p.numel() for p in unet.parameters()) < 2e6


def test_help_mentions_the_main_options():
    text = build_parser().format_help()
    for option in ("--data-dir", "--dataset-name", "--resume", "--push-to-hub", "--model"):
        assert option in text
