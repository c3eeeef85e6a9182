"""results/run_info.json: versions from package metadata (no heavy import), git commit when there is
one, and the SHA-256 of the encoders' weights."""

import hashlib
import importlib.metadata
import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from mmnar.reporting.run_info import (BUNDLED_ENCODER, PACKAGES, git_state, image_encoder_info, run_info,
                                      text_encoder_info, write_run_info)

REPO = Path(__file__).resolve().parents[1]
IMAGE = {"arch": "resnet18", "weights": "random", "seed": 0}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_versions_are_the_installed_ones_and_nothing_heavy_is_imported():
    probe = ("import sys, json; from mmnar.reporting.run_info import run_info; "
             f"info = run_info({str(REPO)!r}, {BUNDLED_ENCODER!r}, {IMAGE!r}); "
             "print(json.dumps([info, sorted(m for m in ('torch', 'torchvision', 'transformers', 'sklearn', "
             "'snakemake', 'optuna', 'pandas') if m in sys.modules)]))")
    info, imported = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                               check=True).stdout)
    assert imported == []
    assert info["python"] == platform.python_version()
    assert info["packages"] == {name: importlib.metadata.version(name) for name in PACKAGES}
    assert info["platform"]["machine"] == platform.machine()


def test_bundled_text_encoder_is_hashed_where_the_text_stage_loads_it():
    from mmnar.modalities.text_source import resolve_encoder_source

    folder = Path(resolve_encoder_source(BUNDLED_ENCODER))
    info = text_encoder_info(BUNDLED_ENCODER)
    assert info["source"] == f"package {BUNDLED_ENCODER} {importlib.metadata.version(BUNDLED_ENCODER)}"
    assert info["weights_sha256"] == {"model.safetensors": digest(folder / "model.safetensors")}


def test_local_encoder_folder_hashes_weights_files_only(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    (tmp_path / "config.json").write_text("{}")
    info = text_encoder_info(str(tmp_path))
    assert info["source"] == "local folder"
    assert info["weights_sha256"] == {"model.safetensors": digest(tmp_path / "model.safetensors")}


def test_image_weights_hashed_when_a_local_file(tmp_path):
    checkpoint = tmp_path / "cxr.pt"
    checkpoint.write_bytes(b"state dict")
    assert image_encoder_info("resnet18", str(checkpoint), 0)["weights_sha256"] == digest(checkpoint)
    assert image_encoder_info("resnet18", "random", 3) == {"arch": "resnet18", "weights": "random",
                                                           "weights_sha256": None, "seed": 3}
    assert image_encoder_info("resnet18", "IMAGENET1K_V1", 0)["weights_sha256"] is None


def test_git_commit_of_a_checkout_and_none_elsewhere(tmp_path, monkeypatch):
    checkout = tmp_path / "clone"
    checkout.mkdir()
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (checkout / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert git_state(checkout) == {"commit": head, "dirty": False}
    (checkout / "a.txt").write_text("b")
    assert git_state(checkout) == {"commit": head, "dirty": True}
    (checkout / "sub").mkdir()
    assert git_state(checkout / "sub") == {"commit": None, "dirty": None}  # inside a checkout, not its top level
    assert git_state(tmp_path / "plain") == {"commit": None, "dirty": None}
    monkeypatch.setenv("PATH", "")
    assert git_state(checkout) == {"commit": None, "dirty": None}  # no git installed


def test_written_atomically_as_json(tmp_path):
    path = tmp_path / "results" / "run_info.json"
    write_run_info(run_info(tmp_path, BUNDLED_ENCODER, IMAGE), path)
    info = json.loads(path.read_text())
    assert info["git"] == {"commit": None, "dirty": None} and info["image_encoder"]["weights"] == "random"
    assert [p.name for p in path.parent.iterdir()] == ["run_info.json"]
