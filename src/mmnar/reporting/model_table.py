"""The README's model table, rendered from the registries (a test keeps the README equal to it)."""

from __future__ import annotations

from mmnar.modalities.registry import names as modality_names
from mmnar.models.base import SEQUENCE
from mmnar.models.registry import specs


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
