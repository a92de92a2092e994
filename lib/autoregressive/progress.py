"""Training progress that reads the same live and stored: one display for ``fit``.

In a notebook the bar is an output updated in place (IPython's display handles), so the
notebook keeps its **final** state: the website, GitHub and Colab's preview show how the run
ended ("FVSBN  25 epochs (at most 40), 128 s ... stopped early", the bar full), never a
first frame. Its text fallback
reads the same as its HTML. Outside a notebook (scripts, tests) it is a classic ``tqdm`` bar on
standard error.
"""

from __future__ import annotations

import html
import time

from tqdm.std import tqdm

WIDTH = 24  # characters of the text bar


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the book's environment
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class Progress:
    """Progress over ``total`` epochs, with fractions of an epoch as training steps go by.

    name: what is training (e.g. the model's class name).
    enabled: False shows nothing at all.
    """

    def __init__(self, total: int, name: str, enabled: bool = True):
        self.total, self.name, self.enabled = total, name, enabled
        self.done = 0.0  # epochs completed, with a fraction for the epoch under way
        self.metrics: dict[str, float] = {}
        self.note = ""
        self.finished = False
        self.start = time.perf_counter()
        self._shown = 0.0  # when the display was last refreshed
        self._handle = self._bar = None
        if not enabled:
            return
        if _in_notebook():
            from IPython.display import display
            self._handle = display(self, display_id=True)
        else:
            self._bar = tqdm(total=total, desc=name, unit="epoch")

    # -- what fit calls ------------------------------------------------------------------------

    def step(self, fraction: float) -> None:
        """Part of the current epoch done (0..1); the display refreshes at most twice a second."""
        self.done = int(self.done) + fraction
        if time.perf_counter() - self._shown > 0.5:
            self._refresh()

    def epoch(self, number: int, **metrics: float) -> None:
        """Epoch ``number`` (1-based) finished, with its figures (e.g. train=..., valid=...)."""
        self.done, self.metrics = float(number), metrics
        if self._bar is not None:
            self._bar.update(number - self._bar.n)
            self._bar.set_postfix({k: f"{v:.2f}" for k, v in metrics.items()})
        self._refresh()

    def finish(self, note: str = "", complete: bool = True) -> None:
        """The run is over (``note``: e.g. why it stopped); the last state stays on display.
        complete: False for a run cut short by an error, whose bar keeps the share it reached."""
        self.note, self.finished = note, complete
        if self._bar is not None:
            if note:
                self._bar.set_description(f"{self.name} ({note})")
            self._bar.close()
        self._refresh()

    # -- what is shown -------------------------------------------------------------------------

    def _refresh(self) -> None:
        self._shown = time.perf_counter()
        if self._handle is not None:
            self._handle.update(self)

    def _lines(self) -> tuple[str, str]:
        seconds = time.perf_counter() - self.start
        epochs = int(self.done)
        count = (f"{epochs} epochs (at most {self.total})"
                 if self.finished and epochs < self.total else f"{epochs}/{self.total} epochs")
        head = f"{self.name}  {count}, {seconds:.0f} s"
        figures = ", ".join(f"{k} {v:.2f}" for k, v in self.metrics.items())
        tail = "; ".join(part for part in (figures and f"{figures} nats", self.note) if part)
        return head, tail

    def _share(self) -> float:
        """How full the bar is: the share of the epochs done, or all of it once the run is
        over (a run stopped early is finished, not half done)."""
        return 1.0 if self.finished else min(self.done / self.total, 1.0)

    def __repr__(self) -> str:
        filled = round(WIDTH * self._share())
        head, tail = self._lines()
        return f"{'█' * filled}{'░' * (WIDTH - filled)} {head}" + (f"\n{tail}" if tail else "")

    def _repr_html_(self) -> str:
        head, tail = self._lines()
        colour = "#2e7d32" if self.finished or self.done >= self.total else "#1565c0"
        share = 100 * self._share()
        return (
            '<div style="font-family: monospace; max-width: 36em">'
            f'<div style="background: #e0e0e0; height: 0.6em; border-radius: 0.3em">'
            f'<div style="background: {colour}; width: {share:.1f}%; height: 100%; '
            'border-radius: 0.3em"></div></div>'
            f"<div>{html.escape(head)}</div>"
            + (f"<div>{html.escape(tail)}</div>" if tail else "")
            + "</div>"
        )
