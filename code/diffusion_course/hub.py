"""``--push-to-hub``: check the token and the connection first, upload at the end.

The token comes from ``HF_TOKEN`` or the cached ``hf auth login``; it is passed to
``huggingface_hub`` and never printed or written anywhere.
"""

from __future__ import annotations

from pathlib import Path

from diffusion_course.errors import UsageError
from diffusion_course.image_folder import hub_offline, hub_reachable


def check_push_to_hub() -> str:
    """Return the token after checking that an upload can work; raise UsageError if not."""
    from huggingface_hub import get_token, whoami

    if hub_offline():
        raise UsageError(
            "--push-to-hub cannot upload while HF_HUB_OFFLINE=1; unset it or drop --push-to-hub"
        )
    token = get_token()
    if not token:
        raise UsageError(
            "--push-to-hub needs a Hugging Face token; run `hf auth login` or set HF_TOKEN"
        )
    if not hub_reachable():
        raise UsageError(
            "--push-to-hub: cannot reach the Hugging Face Hub; check your connection "
            "or drop --push-to-hub and upload the folder later"
        )
    try:
        whoami(token=token)
    except Exception as exc:  # invalid token or network trouble; never echo the token
        raise UsageError(
            f"--push-to-hub: the Hub refused the token ({type(exc).__name__}); "
            "log in again with `hf auth login`"
        ) from None
    return token


def push_folder(folder: Path, repo_id: str, token: str, private: bool) -> str:
    """Create the model repo if needed and upload the pipeline (not checkpoints or logs)."""
    from huggingface_hub import create_repo, upload_folder

    repo = create_repo(repo_id, token=token, private=private, exist_ok=True)
    upload_folder(
        repo_id=repo.repo_id,
        folder_path=str(folder),
        token=token,
        commit_message="Upload DDPM pipeline trained with diffusion_course.train",
        ignore_patterns=["checkpoints/*", "logs/*", "*.tmp"],
    )
    return repo.repo_id


__all__ = ["check_push_to_hub", "push_folder"]
