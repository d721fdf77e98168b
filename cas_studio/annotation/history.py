"""Bounded undo / redo over label-map states."""

from __future__ import annotations

import zlib

import numpy as np

from ..constants import MAX_ID


class History:
    """Undo / redo over label-map states, kept zlib-compressed and bounded in bytes.

    At most ``limit`` states and ``max_bytes`` of compressed states are kept; the oldest go first.
    A label map compresses well (a 4 MP map of a few hundred regions to well under 1 MB), so the
    bound holds a long history without growing a session's memory with the image size. Each state
    may carry a second map, ``aux`` (the annotation session keeps its proposal there, so undo
    restores which regions count as proposed too).
    """

    def __init__(self, labels: np.ndarray, *, aux: np.ndarray | None = None, limit: int = 30,
                 max_bytes: int = 32 << 20) -> None:
        if np.asarray(labels).max(initial=0) > MAX_ID:  # packed as uint16: larger ids would wrap on undo
            raise ValueError(f"region ids above {MAX_ID} cannot be stored; merge some regions first")
        self._undo: list[tuple] = []
        self._redo: list[tuple] = []
        self.current = np.asarray(labels, np.int32)
        self.aux = aux
        self.note = None  # the restored state's note (see push); None until an undo or redo
        self.limit, self.max_bytes = limit, max_bytes
        self.edits = 0

    @staticmethod
    def _pack_one(labels: np.ndarray | None) -> tuple[bytes, tuple[int, int]] | None:
        if labels is None:
            return None
        return zlib.compress(np.ascontiguousarray(labels, np.uint16).tobytes(), 1), labels.shape

    @staticmethod
    def _unpack_one(state: tuple[bytes, tuple[int, int]] | None) -> np.ndarray | None:
        if state is None:
            return None
        data, shape = state
        return np.frombuffer(zlib.decompress(data), np.uint16).reshape(shape).astype(np.int32)

    def _pack(self, note: object = None) -> tuple:
        return self._pack_one(self.current), self._pack_one(self.aux), note

    def _restore(self, state: tuple) -> None:
        self.current, self.aux = self._unpack_one(state[0]), self._unpack_one(state[1])
        self.note = state[2]

    def peek_undo(self) -> np.ndarray | None:
        """The label map one undo would bring back (None at the oldest state)."""
        return self._unpack_one(self._undo[-1][0]) if self._undo else None

    @property
    def nbytes(self) -> int:
        """Bytes held by the undo and redo states."""
        return sum(len(p[0]) + (len(a[0]) if a else 0) for p, a, _ in self._undo + self._redo)

    def _trim(self) -> None:
        del self._undo[: -self.limit]
        while self._undo and self.nbytes > self.max_bytes:
            self._undo.pop(0)

    def push(self, labels: np.ndarray, aux: np.ndarray | None = None, *, note: object = None) -> np.ndarray:
        """Make ``labels`` (and ``aux``, when given; else the current one stays) current, remembering the
        previous state with ``note``: a small immutable value that describes it beside the maps (the
        annotation session keeps its confirmations there, so undo restores them whole)."""
        for arr in (labels, aux):
            if arr is not None and np.asarray(arr).max(initial=0) > MAX_ID:
                raise ValueError(f"region ids above {MAX_ID} cannot be stored; merge some regions first")
        self._undo.append(self._pack(note))
        self._redo.clear()
        self._trim()
        self.current = np.asarray(labels, np.int32)
        if aux is not None:
            self.aux = np.asarray(aux, np.int32)
        self.edits += 1
        return self.current

    def _step(self, source: list, target: list, note: object) -> np.ndarray:
        if source:
            target.append(self._pack(note))
            self._restore(source.pop())
            # The count is of the edits in the state shown: an undo takes one back, a redo brings it back.
            self.edits += 1 if source is self._redo else -1
            self.edits = max(self.edits, 0)
        return self.current

    def undo(self, *, note: object = None) -> np.ndarray:
        """Step back (no-op at the oldest state); ``note`` describes the state left (see :meth:`push`),
        ``self.note`` then holds the restored state's."""
        return self._step(self._undo, self._redo, note)

    def redo(self, *, note: object = None) -> np.ndarray:
        """Step forward again (no-op at the newest state); ``note`` as in :meth:`undo`."""
        return self._step(self._redo, self._undo, note)

    @property
    def can_undo(self) -> bool:
        """Whether :meth:`undo` would change anything."""
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        """Whether :meth:`redo` would change anything."""
        return bool(self._redo)
