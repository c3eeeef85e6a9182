"""Registering a modality is one registry entry plus its extractor: the workflow runs with it unchanged.

A copy of the repository gets a toy fifth modality, demographics from the cohort table (PiCME's
fifth modality), by appending one entry to ``mmnar/modalities/registry.py`` and adding its
extractor module; no other file changes. δ, patterns, Figure 1, the trainer, the models over all
modalities and the derived single-modality reference pick it up.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from workflow_runner import REPO, TINY_CONFIG, shared_cache_config, write_config

pytestmark = pytest.mark.workflow

EXTRACTOR = '''"""Toy modality D: age and sex of the index admission, one vector per patient."""
import pandas as pd


def extract(cohort, config):
    frame = pd.DataFrame({"subject_id": cohort["subject_id"].to_numpy()})
    frame["emb_0"] = cohort["age"].astype("float32").to_numpy()
    frame["emb_1"] = (cohort["gender"] == "F").astype("float32").to_numpy()
    return frame[cohort["subject_id"].to_numpy() % 3 != 0]  # missing for a third of the patients
'''
ENTRY = '''
REGISTRY.append(Modality("D", "Demographics", "age and sex (cohort table)", "embed_registered",
                         extractor="mmnar.modalities.demographics:extract"))
'''


@pytest.fixture(scope="module")
def clone_with_fifth_modality(tmp_path_factory):
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    clone = tmp_path_factory.mktemp("five") / "repo"
    for name in files:
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    (clone / "src/mmnar/modalities/demographics.py").write_text(EXTRACTOR)
    registry = clone / "src/mmnar/modalities/registry.py"
    registry.write_text(registry.read_text() + ENTRY)
    config = write_config(clone / "five.yaml", {"models": ["crl_mmnar", "late_fusion", "d_only"],
                                                "rectifier": {"models": ["crl_mmnar"]},
                                                "reporting": {"references": ["crl_mmnar"]},
                                                "tuning": {"n_trials": 1}, "split": {"seeds": [0]}})
    command = [sys.executable, "-m", "snakemake", "-s", str(clone / "Snakefile"), "-d", str(clone), "--cores", "2",
               "results/table1.csv", "results/figure1_pattern_outcomes.csv",
               "--configfile", str(TINY_CONFIG), *map(str, shared_cache_config()), str(config)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(clone / "src")}  # the clone's package, not ours
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=clone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return clone


def test_delta_and_patterns_have_the_fifth_bit(clone_with_fifth_modality):
    clone = clone_with_fifth_modality
    delta = np.load(clone / "data/model_input/delta.npy")
    labels = pd.read_parquet(clone / "data/model_input/labels.parquet")
    assert delta.shape[1] == 5 and 0 < delta[:, 4].mean() < 1
    assert np.array_equal(delta[:, 4], (labels["subject_id"] % 3 != 0).astype(np.uint8))
    assert (labels["pattern_id"] >= 16).sum() == delta[:, 4].sum()  # D is bit 4
    assert labels.loc[delta[:, 4] == 1, "pattern"].str.endswith("+D").all()
    assert pd.read_csv(clone / "results/figure1_pattern_outcomes.csv")["pattern"].str.contains("D").any()


def test_models_read_it_and_table1_has_its_reference(clone_with_fifth_modality):
    import torch

    clone = clone_with_fifth_modality
    checkpoint = torch.load(clone / "results/models/crl_mmnar/split0/init0/model.pt", weights_only=True)
    assert checkpoint["modalities"] == ["S", "I", "T", "R", "D"] and checkpoint["vector_dims"]["D"] == 2
    table = pd.read_csv(clone / "results/table1.csv")
    assert table["model"].tolist()[:3] == ["crl_mmnar", "late_fusion", "d_only"]
    assert table.loc[table["model"] == "d_only", "label"].item() == "D only (patients with D)"
    assert table["readmit_30d_auc_mean"].notna().all()
