"""Tests run offline: no model hub, no network. End-to-end tests share one prepared tiny run.

``tiny_run`` is the tiny workflow run (``tests/configs/tiny.yaml``) up to Tables 1 and 2 and Figure 1,
built once per test session for every test that reads it (and for those that add targets to it);
every workflow run of the session embeds through one content-addressed cache
(:data:`workflow_runner.SHARED_CACHE_VARIABLE`), so a note or an image is encoded once per session.
"""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from workflow_runner import SHARED_CACHE_VARIABLE, TINY_TARGETS, snakemake  # noqa: E402 (after the offline switches)


@pytest.fixture(scope="session", autouse=True)
def shared_embedding_cache(tmp_path_factory):
    """One embedding cache for every workflow run of the session (keys are content hashes: sharing is safe)."""
    os.environ[SHARED_CACHE_VARIABLE] = str(tmp_path_factory.mktemp("embedding_cache"))
    yield
    os.environ.pop(SHARED_CACHE_VARIABLE, None)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny run's working directory, Tables 1 and 2 and Figure 1 built."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    snakemake(workdir, "--cores", "2", *TINY_TARGETS)
    return workdir
