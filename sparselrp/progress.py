"""Progress of long steps: a bar on a terminal, periodic log lines everywhere else.

``sparselrp attribute``, ``merge`` and ``motifs`` report their progress through
:func:`progress_bar`. On an interactive terminal (or in a Jupyter kernel) that is
a tqdm bar. When stderr goes to a file, a pipe, a Snakemake log or a cluster
job's log, a bar would be one long line of carriage returns written only at
the end; there the progress is a plain line on stderr every
``SPARSELRP_PROGRESS_INTERVAL`` seconds (default 30)::

    attribute: 2048/10000 seq (20.5%), 41.3 seq/s, 50 s elapsed, about 3 min 13 s left

and one closing line (``attribute: 10000/10000 seq after 4 min 02 s, 41.3 seq/s``)
once at least one such line was written. A run shorter than the interval prints nothing, so short commands keep
their one summary line.

Environment
-----------
``SPARSELRP_PROGRESS``
    ``auto`` (default: a bar on a terminal, log lines otherwise), ``bar``,
    ``log`` or ``off``.
``SPARSELRP_PROGRESS_INTERVAL``
    Seconds between two log lines (default 30; 0 writes a line at every update).
"""

import os
import sys
import time

__all__ = ["progress_bar", "progress_mode", "Progress", "LogProgress", "NullProgress", "format_duration"]

MODES = ("auto", "bar", "log", "off")
DEFAULT_INTERVAL = 30.0


def _env_interval():
    raw = os.environ.get("SPARSELRP_PROGRESS_INTERVAL", "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"SPARSELRP_PROGRESS_INTERVAL={raw!r}: expected a number of seconds, e.g. 30") from None
    if not value >= 0:
        raise ValueError(f"SPARSELRP_PROGRESS_INTERVAL={raw!r}: expected a number of seconds >= 0, e.g. 30")
    return value


def _interactive(stream):
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # closed or replaced streams
        return False
    return "ipykernel" in sys.modules  # a notebook: tqdm.auto draws a widget


def progress_mode(progress=True, stream=None):
    """The mode a ``progress=`` argument resolves to: ``"bar"``, ``"log"`` or ``"off"``.

    Parameters
    ----------
    progress : bool or str
        ``False``/``None``: off. ``True`` or ``"auto"``: the ``SPARSELRP_PROGRESS``
        environment variable, or by default a bar on an interactive terminal and
        log lines otherwise. ``"bar"``, ``"log"``, ``"off"``: that mode.
    stream : file, optional
        Where progress goes (default: ``sys.stderr`` at call time).
    """
    if progress is None or progress is False:
        return "off"
    mode = "auto" if progress is True else str(progress)
    if mode == "auto":
        env = os.environ.get("SPARSELRP_PROGRESS", "").strip().lower() or "auto"
        if env not in MODES:
            raise ValueError(f"SPARSELRP_PROGRESS={env!r}: expected one of {', '.join(MODES)}")
        mode = env
    if mode not in MODES:
        raise ValueError(f"progress mode {progress!r}: expected True, False or one of {', '.join(MODES)}")
    if mode == "auto":
        mode = "bar" if _interactive(stream if stream is not None else sys.stderr) else "log"
    return mode


def format_duration(seconds):
    """``"42 s"``, ``"3 min 05 s"``, ``"2 h 07 min"``."""
    s = int(round(max(seconds, 0.0)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _rate_text(rate):
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.3g}"


def _count(x):
    return f"{x:g}" if isinstance(x, float) and not float(x).is_integer() else f"{int(x)}"


class Progress:
    """Interface shared by the progress reporters: ``update(n)``, ``close()``, a context manager."""

    total = None
    n = 0

    def update(self, n=1):
        """Count ``n`` more units done."""

    def close(self, success=True):
        """Finish (idempotent); ``success=False`` when the work stopped on an error."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(success=exc_type is None)
        return False


class NullProgress(Progress):
    """Reports nothing (``progress=False`` or ``SPARSELRP_PROGRESS=off``)."""

    def __init__(self, total=None, **_):
        self.total = total
        self.n = 0

    def update(self, n=1):
        self.n += n


class LogProgress(Progress):
    """Plain progress lines on a stream, at most one per ``interval`` seconds.

    Parameters
    ----------
    total : int or None
        Units expected (None when unknown: no percentage or time left).
    desc : str
        What is counted, e.g. ``"attribute"``; starts every line.
    unit : str
        Unit name, e.g. ``"seq"``.
    interval : float, optional
        Seconds between two lines (default: ``SPARSELRP_PROGRESS_INTERVAL`` or 30).
    stream : file, optional
        Default: ``sys.stderr`` at the time of writing.
    clock : callable, optional
        Monotonic time source (tests pass a fake one).
    """

    def __init__(self, total=None, desc="progress", unit="it", interval=None, stream=None, clock=time.monotonic):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.interval = _env_interval() if interval is None else float(interval)
        self.stream = stream
        self.clock = clock
        self.n = 0
        self.lines = 0
        self.closed = False
        self._t0 = clock()
        self._last = self._t0

    def _write(self, text):
        stream = self.stream if self.stream is not None else sys.stderr
        try:
            print(text, file=stream, flush=True)
        except (OSError, ValueError):  # a closed or broken log must not end the run
            pass

    def _rate(self, now):
        elapsed = now - self._t0
        return elapsed, (self.n / elapsed if elapsed > 0 else float("nan"))

    def line(self, now=None):
        """The progress line as of ``now`` (default: the clock)."""
        now = self.clock() if now is None else now
        elapsed, rate = self._rate(now)
        text = f"{self.desc}: {_count(self.n)}"
        if self.total is not None:
            text += f"/{_count(self.total)} {self.unit}"
            if self.total > 0:
                text += f" ({100.0 * self.n / self.total:.1f}%)"
        else:
            text += f" {self.unit}"
        if rate == rate:  # not NaN
            text += f", {_rate_text(rate)} {self.unit}/s"
        text += f", {format_duration(elapsed)} elapsed"
        if self.total is not None and rate == rate and rate > 0 and self.n < self.total:
            text += f", about {format_duration((self.total - self.n) / rate)} left"
        return text

    def update(self, n=1):
        self.n += n
        now = self.clock()
        if now - self._last >= self.interval:
            self._last = now
            self.lines += 1
            self._write(self.line(now))

    def close(self, success=True):
        """Write the closing line (count, time, rate) if any progress line was written."""
        if self.closed:
            return
        self.closed = True
        if self.lines and success:
            now = self.clock()
            elapsed, rate = self._rate(now)
            text = f"{self.desc}: {_count(self.n)}"
            text += f"/{_count(self.total)} {self.unit}" if self.total is not None else f" {self.unit}"
            text += f" after {format_duration(elapsed)}"
            if rate == rate:
                text += f", {_rate_text(rate)} {self.unit}/s"
            self._write(text)


class _BarProgress(Progress):
    def __init__(self, total=None, desc="progress", unit="it", stream=None):
        from tqdm.auto import tqdm

        self.total = total
        self.n = 0
        self._bar = tqdm(total=total, desc=desc, unit=unit, file=stream if stream is not None else sys.stderr,
                         dynamic_ncols=True)

    def update(self, n=1):
        self.n += n
        self._bar.update(n)

    def close(self, success=True):
        self._bar.close()


def progress_bar(progress, total=None, desc="progress", unit="it", stream=None):
    """A progress reporter for a loop of ``total`` units.

    Parameters
    ----------
    progress : bool or str
        See :func:`progress_mode`: ``False`` for none, ``True`` for a bar on a
        terminal and log lines elsewhere, or ``"bar"``, ``"log"``, ``"off"``.
    total : int, optional
        Units expected.
    desc : str
        Label, e.g. ``"attribute"``.
    unit : str
        Unit, e.g. ``"seq"``.
    stream : file, optional
        Default ``sys.stderr``.

    Returns
    -------
    Progress
        Call ``update(n)`` after each step and ``close()`` at the end (or use it
        in a ``with`` block).
    """
    mode = progress_mode(progress, stream)
    if mode == "bar":
        return _BarProgress(total=total, desc=desc, unit=unit, stream=stream)
    if mode == "log":
        return LogProgress(total=total, desc=desc, unit=unit, stream=stream)
    return NullProgress(total=total)
