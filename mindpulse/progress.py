"""Progress bars for the management commands `make run` calls (bootstrap, generate,
import, train).

Why: the first start spends a minute storing rows and fitting models; a terminal should
see it move. Anything that is not a terminal (tests, the worker, CI logs, a pipe) gets no
bar at all, not a line per refresh: tqdm's `disable=None` turns the bar off when the
stream is not a TTY.
"""

import shutil
from contextlib import contextmanager

from tqdm import tqdm


def _stream(wrapper):
    # Django's OutputWrapper adds a newline to every write, which would break the bar's
    # carriage returns: the bar writes to the stream it wraps.
    return getattr(wrapper, "_out", wrapper)


@contextmanager
def progress_bar(command, *, total: int | None, desc: str, unit: str = "it", verbosity: int = 1):
    """A tqdm bar on the command's stderr, shown only at verbosity >= 1 on a terminal."""
    size = shutil.get_terminal_size()
    bar = tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit == "rows",
        file=_stream(command.stderr),
        disable=None if verbosity >= 1 else True,
        leave=True,
        # A terminal that reports no size (a pty without one: `script`, `docker run -t`)
        # makes tqdm draw a bar of zero columns on zero rows, i.e. nothing: shutil falls
        # back to COLUMNS / LINES, then 80 x 24.
        ncols=size.columns,
        nrows=size.lines,
    )
    try:
        yield bar
    finally:
        bar.close()


def write_line(command, bar, line: str) -> None:
    """A line on the command's stdout that does not tear a bar being drawn."""
    if bar.disable:
        command.stdout.write(line)
    else:
        bar.write(line, file=_stream(command.stdout))


def rows_callback(bar):
    """The `progress(done, total)` callback of the dataset services, moving `bar`."""

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    return progress
