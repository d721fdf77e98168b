"""Synthetic data for tests that must run without ../shared/data (thin names over the library's)."""

from __future__ import annotations

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
