"""A short fine-tune's steps: at most a count, within a time budget, until a stop request."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator


class Budget:
    """Iterate over step indices 0, 1, ... while there are steps left, the next step would not
    overrun ``seconds`` (judged by the mean step so far) and ``should_stop`` says go on.

    After the loop, :attr:`done` is the steps taken and :attr:`stopped` whether a stop request
    ended it; :attr:`elapsed` is the seconds since the loop began.

    Example:
        >>> budget = Budget(3, seconds=60.0)
        >>> [step for step in budget], budget.done, budget.stopped
        ([0, 1, 2], 3, False)
    """

    def __init__(self, steps: int, seconds: float, should_stop: Callable[[], bool] | None = None) -> None:
        self.steps, self.seconds, self.should_stop = steps, seconds, should_stop
        self.done, self.stopped, self._start = 0, False, time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the loop began."""
        return time.perf_counter() - self._start

    def __iter__(self) -> Iterator[int]:
        self._start = time.perf_counter()
        while self.done < self.steps:
            if self.should_stop is not None and self.should_stop():
                self.stopped = True
                return
            elapsed = self.elapsed
            if self.done and elapsed + elapsed / self.done > self.seconds:  # the next step would overrun
                return
            yield self.done
            self.done += 1
