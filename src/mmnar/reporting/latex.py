"""LaTeX (booktabs) rendering of the paper tables, from the same cells as their markdown.

A table is a header, rows of cell texts and footnotes, written once for markdown; ``escape`` turns a
text into LaTeX (special characters escaped, ``**bold**`` into ``\\textbf``, the symbols the tables use
into their LaTeX forms) and ``latex_table`` lays it out with booktabs rules, optional column groups
above the header (e.g. one per task) and the footnotes under the tabular. The output is a ``table``
float for ``\\input``; it needs ``\\usepackage{booktabs}`` in the preamble.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from mmnar.io import atomic_path

SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
    "|": r"\textbar{}",
}
SYMBOLS = {
    "±": r"$\pm$", "−": r"$-$", "Δ": r"$\Delta$", "δ": r"$\delta$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$",
    "→": r"$\rightarrow$", "†": r"\textsuperscript{\dag}", "–": "--", "—": "---", "…": r"\ldots{}", "“": "``", "”": "''",
    "‘": "`", "’": "'", "\u00a0": "~",
}
BOLD = re.compile(r"\*\*(.+?)\*\*")
MARK = re.compile(r"(?<!\*)\*(?!\*)")
"""A lone ``*`` (a significance mark) becomes a superscript."""


def escape(text: str) -> str:
    """``text`` as LaTeX: special characters escaped, ``**x**`` bold, a lone ``*`` and ``†`` superscript."""
    escaped = "".join(SPECIAL.get(char) or SYMBOLS.get(char) or char for char in str(text))
    escaped = BOLD.sub(r"\\textbf{\1}", escaped)
    return MARK.sub(r"\\textsuperscript{*}", escaped)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str, label: str,
                notes: Sequence[str] = (), groups: Sequence[tuple[str, int]] | None = None,
                align: str | None = None) -> str:
    """A booktabs ``table`` float: ``header`` and ``rows`` (cell texts, escaped here), ``groups``
    ``(title, n_columns)`` spanning the header's columns left to right (empty title: no rule), the
    ``notes`` as footnotes below. ``align``: the column spec, by default ``l`` then ``c``."""
    n_columns = len(header)
    if any(len(row) != n_columns for row in rows):
        raise ValueError(f"every row needs {n_columns} cells")
    align = align or "l" + "c" * (n_columns - 1)
    lines = [r"% requires \usepackage{booktabs}", r"\begin{table}[htbp]", r"\centering",
             rf"\caption{{{escape(caption)}}}", rf"\label{{{label}}}", r"\scriptsize", rf"\begin{{tabular}}{{{align}}}",
             r"\toprule"]
    if groups:
        if sum(width for _, width in groups) != n_columns:
            raise ValueError("the column groups must span the header")
        cells, rules, first = [], [], 1
        for title, width in groups:
            if title:
                cells.append(rf"\multicolumn{{{width}}}{{c}}{{{escape(title)}}}")
                rules.append(rf"\cmidrule(lr){{{first}-{first + width - 1}}}")
            else:
                cells += [""] * width
            first += width
        lines += [" & ".join(cells) + r" \\", " ".join(rules)]
    lines += [" & ".join(escape(cell) for cell in header) + r" \\", r"\midrule"]
    lines += [" & ".join(escape(cell) for cell in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if notes:
        lines += [r"\par\smallskip", r"\begin{minipage}{\linewidth}\raggedright\footnotesize"]
        lines += [escape(note) + r"\par" for note in notes]
        lines += [r"\end{minipage}"]
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_latex(path: str | Path, header: Sequence[str], rows: Sequence[Sequence[str]], **kwargs) -> None:
    """``latex_table`` to ``path``, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(latex_table(header, rows, **kwargs))
