"""Uploading: the repo id is resolved before training and named in the model card."""

from __future__ import annotations

import pytest

from diffusion_course import hub
from diffusion_course.model_card import model_card
from diffusion_course.options import TrainConfig


@pytest.fixture
def online(monkeypatch):
    """A Hub that answers: a token, a reachable endpoint and a user called "learner"."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr("huggingface_hub.get_token", lambda: "hf_secret")
    monkeypatch.setattr("huggingface_hub.whoami", lambda token: {"name": "learner"})
    monkeypatch.setattr(hub, "hub_reachable", lambda: True)


@pytest.mark.parametrize(
    ("model_id", "repo_id"), [(None, "learner/ddpm-digits"), ("org/model", "org/model")]
)
def test_repo_id_gets_the_users_namespace(online, model_id, repo_id):
    config = TrainConfig("runs/ddpm-digits", push_to_hub=True, hub_model_id=model_id)
    assert hub.check_push_to_hub(config) == repo_id  # default: the output folder's name


def state(output_dir: str) -> dict:
    return {
        "config": TrainConfig(output_dir, push_to_hub=True).to_dict(),
        "commands": ["python -m diffusion_course.train --output-dir out"],
        "step": 10,
        "num_processes": 1,
        "train_seconds": 12.0,
        "wall_seconds": 15.0,
        "hardware": "CPU test",
        "diffusers_version": "0",
    }


def test_card_names_the_hub_repo_when_pushed():
    card = model_card(state("runs/ddpm-digits"), None, repo_id="learner/ddpm-digits")
    assert card.data.library_name == "diffusers"
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert 'DDPMPipeline.from_pretrained("learner/ddpm-digits")' in card.text
    assert "# learner/ddpm-digits" in card.text
    assert "PATH_TO_THIS_FOLDER" not in str(card)


def test_card_of_a_local_run_names_its_folder():
    card = model_card(state("runs/ddpm-digits"), "FD 1.0", repo_id=None)
    assert 'DDPMPipeline.from_pretrained("runs/ddpm-digits")' in card.text
    assert "FD 1.0" in card.text and "| `learning_rate` | `0.001` |" in card.text
