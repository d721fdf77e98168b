"""Soak: many sessions editing and saving one project at once, for a bounded time.

Each session (a thread, as the app's sessions are) is the :class:`~cas_studio.annotation.Session`
the Annotate tab drives: it loads an image's annotation and its version, merges two regions by
clicking them (or splits one), and autosaves naming that version; when another session saved first
it gets :class:`~cas_studio.annotation.SaveConflict`, reloads and tries again, as a user would. At the end
the successful saves of every image must form one chain, each built on the version before it
(two built on one version would mean one overwrote the other), ending at the saved version;
every label map must match its sidecar, and the process's peak resident memory must have grown by
less than ``--max-rss-mb``. Beside them, ``--readers`` threads only read (as a session opening an
image does) while the others write: every read must be one consistent snapshot, its label map
holding the region count its record records (a stale read would pair old labels with a newer
version, and the next edit built on it would overwrite another session's save).

Confirmation is checked too: every image starts as a proposal (nothing confirmed), merges confirm
regions, and ``confirmation errors`` counts regions recorded confirmed that the acting session
never confirmed plus confirmations it made that the record lost, both in the final record of each
image (against the session whose save made it) and in every snapshot a reader took (against the
record's own label map, proposal and hand confirmations).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from skimage import data

from .. import annotation as ann
from ..data.project import create_project, open_project, sha256
from ..annotation.session import Session, SaveConflict
from ..io import to_rgb8, write_image


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup(work: Path, images: int) -> tuple[Path, list[str]]:
    """A project of ``images`` over-segmented photos, every region proposed; its root and image names."""
    project = create_project(work / "project")
    sources = [data.coffee(), data.chelsea(), data.astronaut(), data.rocket(), data.camera()]
    names = []
    for i in range(images):
        src = write_image(work / f"img{i}.png", sources[i % len(sources)])
        (path,) = project.add_images([src])
        labels = ann.oversegment(to_rgb8(sources[i % len(sources)]), "watershed", regions=200)
        project.save_labels(path, labels, proposal=labels)  # every region proposed
        names.append(path.name)
    return project.root, names


def _work(root: Path, names: list[str], sessions: int, seconds: float, readers: int, seed: int) -> dict:
    """One process's share: ``sessions`` editing threads and ``readers`` reading threads on the
    project at ``root`` until ``seconds`` pass; what each successful save built on, what it confirmed."""
    project = open_project(root)
    paths = [project.root / "images" / n for n in names]
    bases: dict[str, list[int]] = {n: [] for n in names}  # the version each successful save built on
    believed: dict[tuple[str, int], frozenset] = {}  # (image, version saved) -> what that session confirmed
    confirmation_errors = [0]
    counts_lock = threading.Lock()
    conflicts, errors = [0], []
    rss_before = _peak_rss_mb()
    stop_at = time.time() + seconds

    def session(seed: int) -> None:
        # Each thread is one person in the app: the same Session the Annotate tab drives.
        rng = np.random.default_rng(seed)
        s = Session(project)
        while time.time() < stop_at:
            s.index = int(rng.integers(len(paths)))
            try:
                s.load_image()
                version, labels = s.version, s.labels()
                ids = np.unique(labels[labels > 0])
                picks = rng.choice(ids, 2, replace=False) if len(ids) >= 2 else ids[:1]
                points = [np.argwhere(labels == i)[0] for i in picks]
                if len(points) == 2:
                    s.click_region("merge", points[0][1], points[0][0])
                    s.click_region("merge", points[1][1], points[1][0])
                else:
                    s.click_region("split", points[0][1], points[0][0])
                current = s.labels()
                mine = frozenset(np.unique(current[current > 0]).tolist()) - set(s.proposed())
                with counts_lock:
                    bases[s.current().name].append(version)
                    believed[(s.current().name, s.version)] = mine
            except SaveConflict:
                with counts_lock:
                    conflicts[0] += 1
            except Exception as err:  # reported as a failure of the soak
                errors.append(f"{type(err).__name__}: {err}")
                return

    reads, stale = [0], [0]

    def reader(seed: int) -> None:
        rng = np.random.default_rng(10_000 + seed)
        while time.time() < stop_at:
            labels, side, proposal = project.load_annotation(paths[int(rng.integers(len(paths)))])
            ids = np.unique(labels[labels > 0])
            consistent = len(ids) == side.get("regions")
            # What the snapshot's own maps say is confirmed: changed regions plus hand confirmations.
            changed = set(ids.tolist()) - set(ann.untouched_regions(labels, proposal).tolist())
            expected = changed | (set(side.get("by_hand", [])) & set(ids.tolist()))
            wrong = len(expected ^ set(side.get("confirmed", [])))
            with counts_lock:
                reads[0] += 1
                stale[0] += not consistent
                confirmation_errors[0] += wrong

    threads = [threading.Thread(target=session, args=(seed + k,)) for k in range(sessions)]
    threads += [threading.Thread(target=reader, args=(seed + k,)) for k in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"bases": bases, "believed": believed, "conflicts": conflicts[0], "errors": errors, "reads": reads[0],
            "stale_reads": stale[0], "confirmation_errors": confirmation_errors[0],
            "rss_growth_mb": _peak_rss_mb() - rss_before}


def run(*, sessions: int = 50, seconds: float = 30.0, images: int = 5, readers: int = 10,
        folder: Path | None = None, processes: int = 1) -> dict:
    """Run the soak; returns counts and checks (see the module docstring). With ``processes`` > 1
    the sessions and readers are spread over that many processes racing on the one project (as
    two app instances, or the app and a script, would), each process's threads as above."""
    if processes < 1 or sessions < processes:
        raise ValueError(f"the soak needs at least one process and a session per process, got {processes} "
                         f"process(es) for {sessions} session(s)")
    work = folder or Path(tempfile.mkdtemp(prefix="cas-soak-"))
    root, names = _setup(work, images)
    shares = [(root, names, sessions // processes + (k < sessions % processes),
               seconds, readers // processes + (k < readers % processes), 1000 * k) for k in range(processes)]
    if processes == 1:
        results = [_work(*shares[0])]
    else:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(pool.map(_work, *zip(*shares)))
    bases = {n: [v for r in results for v in r["bases"][n]] for n in names}
    believed = {k: v for r in results for k, v in r["believed"].items()}
    confirmation_errors = sum(r["confirmation_errors"] for r in results)
    reopened = open_project(root)
    paths = [reopened.root / "images" / n for n in names]
    # No edit lost: the successful saves of an image form one chain, each built on the one before
    # (two saves built on one version means the later overwrote the earlier), ending at the saved version.
    lost = {name: len(b) - len(set(b)) + abs(reopened.version(name) - 1 - len(b)) for name, b in bases.items()}
    pairs_ok = all(reopened.sidecar(p)["labels_sha256"] == sha256(reopened.label_path(p)) for p in paths)
    for p in paths:
        side = reopened.sidecar(p)
        mine = believed.get((p.name, int(side["version"])))
        if mine is not None:  # the final record against the session whose save made it
            confirmation_errors += len(mine ^ set(side.get("confirmed", [])))
    return {"sessions": sessions, "processes": processes, "seconds": seconds,
            "saves": sum(len(b) for b in bases.values()), "conflicts": sum(r["conflicts"] for r in results),
            "errors": [e for r in results for e in r["errors"]], "lost": {k: v for k, v in lost.items() if v},
            "pairs_ok": pairs_ok, "reads": sum(r["reads"] for r in results),
            "stale_reads": sum(r["stale_reads"] for r in results), "confirmation_errors": confirmation_errors,
            "rss_growth_mb": max(r["rss_growth_mb"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    """Print the soak's result; exit 1 when an edit was lost, a pair mismatched or memory grew too much."""
    p = argparse.ArgumentParser(prog="cas-studio bench soak", description=__doc__.splitlines()[0])
    p.add_argument("--sessions", type=int, default=50)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--images", type=int, default=5)
    p.add_argument("--readers", type=int, default=10, help="threads that only read while the sessions write")
    p.add_argument("--max-rss-mb", type=float, default=1024.0)
    p.add_argument("--processes", type=int, default=1, help="spread the sessions and readers over this many processes")
    args = p.parse_args(argv)
    r = run(sessions=args.sessions, seconds=args.seconds, images=args.images, readers=args.readers,
            processes=args.processes)
    ok = (not r["errors"] and not r["lost"] and r["pairs_ok"] and not r["stale_reads"]
          and not r["confirmation_errors"] and r["rss_growth_mb"] < args.max_rss_mb)
    lost = sum(r["lost"].values())
    print(f"soak {r['sessions']} sessions in {r['processes']} process(es) x {r['seconds']:.0f} s: {r['saves']} saves, {r['conflicts']} conflicts "
          f"refused and retried, edits lost {lost}, {r['reads']} reads racing the writes, stale reads "
          f"{r['stale_reads']}, confirmation errors {r['confirmation_errors']}, pairs consistent {r['pairs_ok']}, "
          f"peak RSS +{r['rss_growth_mb']:.0f} MB (limit {args.max_rss_mb:.0f}); "
          f"{'OK' if ok else 'FAILED'}{'; errors: ' + '; '.join(r['errors'][:3]) if r['errors'] else ''}")
    return 0 if ok else 1
