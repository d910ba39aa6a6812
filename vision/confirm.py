"""K-of-N confirmation with hysteresis: a scene state (flooded, tree down) is declared only after K
of the last N looks agree, and cleared the same way. Pure: no clock, no I/O.

    c = Confirmation(k=3, n=5)
    c.update(True)  -> None | "started" | "ended"

When the state flips, the window restarts: the new state must then be contradicted by K fresh looks
before it flips back. Without that reset a K ≤ N/2 setting would flip back on the very next look
(the old window still holds K looks of the other kind).
"""
from __future__ import annotations

from collections import deque
from typing import Literal

Transition = Literal["started", "ended"]


class Confirmation:
    def __init__(self, k: int, n: int, active: bool = False):
        if n < 1 or k < 1 or k > n:
            raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
        self.k = k
        self.n = n
        self.active = active
        self._window: deque[bool] = deque(maxlen=n)

    @property
    def window(self) -> tuple[bool, ...]:
        """The looks since the last transition (at most N), oldest first."""
        return tuple(self._window)

    def positives(self) -> int:
        return sum(self._window)

    def negatives(self) -> int:
        return len(self._window) - sum(self._window)

    def update(self, positive: bool) -> Transition | None:
        self._window.append(bool(positive))
        if not self.active and self.positives() >= self.k:
            self.active = True
            self._window.clear()
            return "started"
        if self.active and self.negatives() >= self.k:
            self.active = False
            self._window.clear()
            return "ended"
        return None

    def reset(self, active: bool = False) -> None:
        self.active = active
        self._window.clear()

    def __repr__(self) -> str:
        return f"Confirmation(k={self.k}, n={self.n}, active={self.active}, window={self.window})"
