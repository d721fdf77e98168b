"""Synthetic data for tests that must run without ../shared/data (thin names over the library's)."""

from __future__ import annotations

import ast
from pathlib import Path

from cas_studio.data.synthetic import blob_image, make_annotated_project, make_figure_ground


def in_threads(fn, n: int) -> list:
    """Call ``fn()`` in ``n`` threads at once; each call's result, or the exception it raised."""
    import threading

    results: list = []
    lock = threading.Lock()

    def run() -> None:
        try:
            out = fn()
        except Exception as err:
            out = err
        with lock:
            results.append(out)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def make_project(root, n=6, size=64, seed=0):
    """Two-texture mosaics annotated as 2 regions (see ``make_annotated_project``)."""
    return make_annotated_project(root, n=n, size=size, seed=seed)


__all__ = ["blob_image", "in_threads", "make_figure_ground", "make_project"]


PACKAGE = Path(__file__).resolve().parents[1] / "cas_studio"


def _compared_strings(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                items = side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
                found |= {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)}
    return found


def modules_comparing(words: set[str]) -> dict[str, list[str]]:
    """Modules of ``cas_studio`` that compare one of ``words`` with a string literal (``==``, ``in``,
    ...), by path inside the package, with the words they compare; empty when none does."""
    hits = {str(f.relative_to(PACKAGE)): sorted(_compared_strings(ast.parse(f.read_text())) & words)
            for f in PACKAGE.rglob("*.py")}
    return {f: w for f, w in hits.items() if w}
