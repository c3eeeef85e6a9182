"""The package modules a workflow script really runs: the static import closure inside ``mmnar``.

Rules declare these files as inputs, so editing a module reruns exactly the stages that import it
(directly, through another module, or lazily inside a function) and nothing else. Computing the
list from the imports, instead of writing it by hand in each rule, keeps the two from drifting.
Imports under ``if TYPE_CHECKING:`` never run and are not followed.

A job of one model also runs that model's module, which the model registry names and
:mod:`importlib` imports (no import statement names it): ``modules`` adds it. Such a job does not
list the registry itself (``leave_out``): the job's own registry entry is its rule parameter, so
editing another model's entry leaves the job alone.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "mmnar"


def module_file(package_root: Path, module: str) -> Path | None:
    """File of a dotted ``mmnar`` module (``mmnar.modalities.text`` → ``embed/text.py``), or None."""
    parts = module.split(".")[1:]
    base = package_root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(package_root: Path, path: Path) -> str:
    parts = list(path.relative_to(package_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _type_checking_only(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``): its body runs for type checkers only."""
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _run_time_nodes(tree: ast.AST):
    """Every node of ``tree`` (as ``ast.walk``) except the bodies of ``if TYPE_CHECKING:``."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if _type_checking_only(node):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


@functools.lru_cache(maxsize=None)
def _imported_modules(path: Path, own_module: str | None) -> frozenset[str]:
    """Dotted names a file may import when it runs, anywhere in it (top level or inside functions).

    Cached: every rule asks for its script's closure when the workflow is parsed, and the
    closures share most modules."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if own_module is None:
                    continue
                anchor = own_module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.add(base)
            # ``from mmnar.modalities import cache`` imports the submodule when there is one.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found if name == PACKAGE or name.startswith(PACKAGE + "."))


def import_closure(script: str | Path, package_root: str | Path, *, modules: Iterable[str] = (),
                   leave_out: Iterable[str] = ()) -> list[Path]:
    """Every ``mmnar`` module file ``script`` runs, parents' ``__init__.py`` included, sorted.

    ``modules``: dotted modules it runs besides its imports (a model's module, imported by name),
    listed with their own closures. ``leave_out``: dotted modules neither listed nor followed."""
    package_root = Path(package_root)
    excluded = {module_file(package_root, name) for name in leave_out}
    pending: list[tuple[Path, str | None]] = [(Path(script), None)]
    seen: set[Path] = set()

    def reach(name: str) -> None:
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            target = module_file(package_root, ".".join(parts[:depth]))
            if target is not None and target not in seen and target not in excluded:
                seen.add(target)
                pending.append((target, _module_name(package_root, target)))

    for name in modules:
        reach(name)
    while pending:
        path, own_module = pending.pop()
        for name in _imported_modules(path, own_module):
            reach(name)
    return sorted(seen)
