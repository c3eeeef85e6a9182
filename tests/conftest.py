"""Tests run offline: no model hub, no network."""

import os
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items):
    """The end-to-end workflow modules first, the one with the most tests (sharing one long fixture run,
    and each test rerunning part of it) first of all; a stable sort keeps every module's own order. With
    two workers taking whole files, a long module dealt last would run alone on one worker at the end."""
    tests_per_module = Counter(item.nodeid.split("::")[0] for item in items if item.get_closest_marker("workflow"))
    items.sort(key=lambda item: -tests_per_module.get(item.nodeid.split("::")[0], -1))
