"""The README's model and feature-group tables, rendered from the registries (a test keeps the README equal to them)."""

from __future__ import annotations

from mmnar.data.feature_groups import PREDICTION_TIME, availability, groups
from mmnar.modalities.registry import names as modality_names
from mmnar.models.registry import specs
from mmnar.models.spec import SEQUENCE


def model_table_markdown() -> str:
    """One row per registered model: name, Table-1 label, the inputs it reads, its parameters."""
    lines = ["| name | Table 1 label | reads | parameters (`model_params.<name>`) |", "|---|---|---|---|"]
    for name, spec in specs().items():
        reads = ", ".join(f"{m} {'series' if form == SEQUENCE else 'vector'}"
                          for m, form in spec.reads(modality_names(), spec.resolve()).items())
        if spec.restrict_to:
            reads += f" (patients with {spec.restrict_to} only)"
        lines.append(f"| `{name}` | {spec.label} | {reads} | {', '.join(f'`{key}`' for key in spec.params)} |")
    return "\n".join(lines) + "\n"


def feature_group_table_markdown() -> str:
    """One row per registered feature group of S: what it holds, when it is known, where it is used."""
    windows = list(PREDICTION_TIME)
    used = {window: availability(window) for window in windows}
    header = " | ".join(f"`{w}` window" for w in windows)
    lines = [f"| group | known at | holds | {header} |", "|---|---|---|" + "---|" * len(windows)]
    for group in groups():
        cells = " | ".join("used" if not used[w][group.name] else f"not used: {used[w][group.name]}" for w in windows)
        source = f" (`rules/sql/{group.sql}`)" if group.sql else ""
        lines.append(f"| `{group.name}` | {group.known_at} | {group.doc}{source} | {cells} |")
    return "\n".join(lines) + "\n"
