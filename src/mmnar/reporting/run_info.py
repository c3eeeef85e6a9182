"""``results/run_info.json``: what a run ran on, so a number can be traced to its environment.

Package versions come from the installed distributions' metadata (nothing heavy is imported to read
them); the git commit is that of the workflow's checkout (none outside one); encoder weights are
identified by their SHA-256, so a replaced weights file shows even under an unchanged name.
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path

from mmnar.io import atomic_path
from mmnar.modalities.text_source import BUNDLED_ENCODER, resolve_encoder_source

PACKAGES = ("torch", "torchvision", "scikit-learn", "snakemake", "duckdb", "numpy", "pandas", "transformers",
            "optuna")
"""Distributions whose versions can change a number of the run."""

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".onnx")
"""Files of a model folder that hold weights (configuration and tokenizer files are left out)."""

HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
RANDOM_WEIGHTS = "random"


def sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (``None`` when it is not installed)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def platform_info() -> dict:
    return {"system": platform.system(), "release": platform.release(), "machine": platform.machine(),
            "platform": platform.platform(), "cpu_count": os.cpu_count()}


def git_state(checkout: str | os.PathLike) -> dict:
    """Commit of the git checkout whose top level is ``checkout`` and whether tracked files differ
    from it; both ``None`` when it is no checkout or git is not installed."""
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return result.stdout if result.returncode == 0 else None

    top_level = git("rev-parse", "--show-toplevel")
    commit = git("rev-parse", "HEAD")
    if top_level is None or commit is None or Path(top_level.strip()).resolve() != Path(checkout).resolve():
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _folder_weights(folder: Path) -> dict[str, str]:
    return {path.relative_to(folder).as_posix(): sha256(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.suffix in WEIGHT_SUFFIXES}


def text_encoder_info(encoder: str) -> dict:
    """The configured encoder, where its weights come from, and the SHA-256 of each weights file
    (empty when a hub model is not in the local Hugging Face cache)."""
    if encoder == BUNDLED_ENCODER:
        return {"name": encoder, "source": f"package {encoder} {importlib.metadata.version(encoder)}",
                "weights_sha256": _folder_weights(Path(resolve_encoder_source(encoder)))}
    if Path(encoder).is_dir():
        return {"name": encoder, "source": "local folder", "weights_sha256": _folder_weights(Path(encoder))}
    from huggingface_hub import try_to_load_from_cache

    cached = {name: try_to_load_from_cache(encoder, name) for name in HUB_WEIGHT_FILES}
    return {"name": encoder, "source": "Hugging Face hub",
            "weights_sha256": {name: sha256(path) for name, path in cached.items() if isinstance(path, str)}}


def image_encoder_info(arch: str, weights: str, seed: int) -> dict:
    """The configured backbone and weights setting; a local state_dict file (as
    ``mmnar.modalities.image`` tells one apart) also gets its SHA-256."""
    local = weights != RANDOM_WEIGHTS and (Path(weights).suffix in {".pt", ".pth"} or Path(weights).is_file())
    info = {"arch": arch, "weights": weights, "weights_sha256": sha256(weights) if local else None}
    if weights == RANDOM_WEIGHTS:
        info["seed"] = seed
    return info


def run_info(checkout: str | os.PathLike, text_encoder: str, image: dict) -> dict:
    """Everything ``results/run_info.json`` holds; ``image`` is the run's ``embeddings.image``."""
    return {
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": package_versions(),
        "platform": platform_info(),
        "git": git_state(checkout),
        "text_encoder": text_encoder_info(text_encoder),
        "image_encoder": image_encoder_info(image["arch"], image["weights"], image["seed"]),
    }


def write_run_info(info: dict, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
