"""Tests run offline: no model hub, no network."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items):
    """The end-to-end workflow modules first (a stable sort keeps every module's own order): with two
    workers taking whole files, a long module collected last would run alone on one worker at the end."""
    items.sort(key=lambda item: item.get_closest_marker("workflow") is None)
