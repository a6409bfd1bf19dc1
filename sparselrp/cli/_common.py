"""Shared plumbing of the CLI: the click group, error handling, common options."""

import contextlib
import signal
import sys
import threading
import traceback

import click

from .. import __version__


@contextlib.contextmanager
def terminate_cleanly():
    """Turn SIGTERM (cluster schedulers, ``kill``) into SystemExit so temporaries are removed.

    Python's default SIGTERM action ends the process without running ``finally``
    blocks; raising instead lets the atomic writers delete their hidden
    temporary files. The exit status is 143 (128 + SIGTERM) as usual.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _handler(signum, frame):
        raise SystemExit(128 + signum)

    old = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class _Group(click.Group):
    """A click group that turns user-facing exceptions into one stderr line.

    Every subcommand runs with SIGTERM turned into a clean exit, so an
    interrupted run leaves no temporary or half-written output.
    """

    def invoke(self, ctx):
        try:
            with terminate_cleanly():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("sparselrp: interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the CLI's one error boundary
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in msg:
                msg = f"{exc.filename}: {msg}"
            click.echo(f"sparselrp: error: {msg}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="sparselrp")
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
@click.pass_context
def main(ctx, debug):
    """Sparse nucleotide attributions for convolutional genome models (pruned LRP)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def progress_enabled():
    """Whether to show progress bars: only on an interactive terminal."""
    return sys.stderr.isatty()
