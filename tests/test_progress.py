"""Issue 18: progress of attribute, merge and motifs - a bar on a terminal, log lines in pipeline and cluster logs.

The log-line reporter runs on a fake clock here, so nothing depends on how fast the machine is; the
commands are run with ``SPARSELRP_PROGRESS_INTERVAL=0`` (a line at every update) to see their lines.
"""

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from sparselrp import pipeline as slp
from sparselrp.cli import main
from sparselrp.progress import LogProgress, NullProgress, format_duration, progress_bar, progress_mode

LINE = re.compile(r"^(?P<desc>[\w ]+): (?P<n>\d+)/(?P<total>\d+) (?P<unit>\w+) \((?P<pct>[\d.]+)%\), "
                  r"(?P<rate>[\d,.]+) (?P=unit)/s, (?P<elapsed>[\w ]+) elapsed(, about (?P<left>[\w ]+) left)?$")
FINAL = re.compile(r"^(?P<desc>[\w ]+): (?P<n>\d+)/(?P<total>\d+) (?P<unit>\w+) after [\w ]+, [\d,.]+ (?P=unit)/s$")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_log_lines_every_interval_with_count_rate_and_time_left():
    clock, out = Clock(), io.StringIO()
    p = LogProgress(total=1000, desc="attribute", unit="seq", interval=30, stream=out, clock=clock)
    clock.t += 10
    p.update(100)  # before the first interval: nothing
    assert out.getvalue() == ""
    clock.t += 30
    p.update(300)  # 400 done after 40 s
    assert out.getvalue().splitlines() == ["attribute: 400/1000 seq (40.0%), 10 seq/s, 40 s elapsed, about 1 min 00 s left"]
    clock.t += 5
    p.update(100)  # 5 s after the last line: still quiet
    assert len(out.getvalue().splitlines()) == 1
    clock.t += 55
    p.update(500)
    clock.t += 1
    p.close()
    p.close()  # idempotent
    lines = out.getvalue().splitlines()
    assert lines[1:] == ["attribute: 1000/1000 seq (100.0%), 10 seq/s, 1 min 40 s elapsed",
                         "attribute: 1000/1000 seq after 1 min 41 s, 9.9 seq/s"]
    assert all(LINE.match(ln) for ln in lines[:2]) and FINAL.match(lines[2])


def test_short_runs_print_nothing_and_failures_no_closing_line():
    clock, out = Clock(), io.StringIO()
    with LogProgress(total=5, desc="merge", unit="rows", interval=30, stream=out, clock=clock) as p:
        clock.t += 29
        p.update(5)
    assert out.getvalue() == ""  # shorter than the interval: the command's own summary line stays alone
    out = io.StringIO()
    with pytest.raises(RuntimeError):
        with LogProgress(total=10, desc="motifs", unit="seqlet", interval=0, stream=out, clock=clock) as p:
            clock.t += 2
            p.update(3)
            raise RuntimeError("boom")
    assert out.getvalue().splitlines() == ["motifs: 3/10 seqlet (30.0%), 1.5 seqlet/s, 2 s elapsed, about 5 s left"]


def test_unknown_total_and_durations():
    clock, out = Clock(), io.StringIO()
    p = LogProgress(total=None, desc="merge", unit="rows", interval=0, stream=out, clock=clock)
    clock.t += 3600 * 2 + 7 * 60
    p.update(12_345)
    assert out.getvalue() == "merge: 12345 rows, 1.62 rows/s, 2 h 07 min elapsed\n"
    assert [format_duration(s) for s in (0, 59.4, 61, 3599, 7300)] == ["0 s", "59 s", "1 min 01 s", "59 min 59 s",
                                                                      "2 h 01 min"]


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_mode_bar_on_a_terminal_log_elsewhere_and_env_override(monkeypatch):
    monkeypatch.delenv("SPARSELRP_PROGRESS", raising=False)
    assert progress_mode(False) == "off" and progress_mode(None) == "off"
    assert progress_mode(True, stream=io.StringIO()) == "log"
    assert progress_mode(True, stream=_Tty()) == "bar"
    assert progress_mode("log", stream=_Tty()) == "log"
    monkeypatch.setenv("SPARSELRP_PROGRESS", "off")
    assert progress_mode(True, stream=_Tty()) == "off"
    assert isinstance(progress_bar(True, total=3), NullProgress)
    monkeypatch.setenv("SPARSELRP_PROGRESS", "log")
    assert progress_mode(True, stream=_Tty()) == "log"
    monkeypatch.setenv("SPARSELRP_PROGRESS", "loud")
    with pytest.raises(ValueError, match="SPARSELRP_PROGRESS='loud': expected one of auto, bar, log, off"):
        progress_mode(True)
    monkeypatch.setenv("SPARSELRP_PROGRESS", "log")
    monkeypatch.setenv("SPARSELRP_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ValueError, match="SPARSELRP_PROGRESS_INTERVAL='soon'"):
        progress_bar(True, total=3)


def test_bar_draws_on_a_terminal():
    out = _Tty()
    with progress_bar("bar", total=4, desc="attribute", unit="seq", stream=out) as p:
        p.update(4)
    assert "attribute" in out.getvalue() and "4/4" in out.getvalue()


# ----------------------------------------------------------------------------- the three commands


@pytest.fixture(scope="module")
def ctcf(tmp_path_factory):
    """The first 120 shipped CTCF peaks, explained by the shipped model, in two shards."""
    d = tmp_path_factory.mktemp("progress")
    lines = open(slp.resolve_data("package:ctcf_peaks_fasta")).read().splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if ln.startswith(">")]
    for k, (a, b) in enumerate([(0, 60), (60, 120)]):
        (d / f"s{k}.fa").write_text("".join(lines[starts[a]:starts[b]]))
        r = CliRunner().invoke(main, ["encode", str(d / f"s{k}.fa"), "-o", str(d / f"ohe{k}.npz")])
        assert r.exit_code == 0, r.output
    return d


def _progress_lines(stderr, desc):
    return [ln for ln in stderr.splitlines() if ln.startswith(desc + ":")]


def _check_lines(lines, desc, total, unit):
    assert lines, f"no progress line for {desc}"
    parsed = [LINE.match(ln) for ln in lines[:-1]]
    assert all(parsed), lines
    assert FINAL.match(lines[-1]), lines[-1]
    counts = [int(m["n"]) for m in parsed]
    assert counts == sorted(counts) and counts[-1] == total
    assert {int(m["total"]) for m in parsed} == {total} and {m["unit"] for m in parsed} == {unit}


def test_attribute_merge_motifs_write_progress_lines_to_a_log(ctcf):
    env = {"SPARSELRP_PROGRESS_INTERVAL": "0", "SPARSELRP_PROGRESS": None}
    run = CliRunner()
    for k in (0, 1):
        r = run.invoke(main, ["attribute", "-m", "pretrained:ctcf", "-s", str(ctcf / f"ohe{k}.npz"), "-o",
                              str(ctcf / f"a{k}.npz"), "--sparse", "--hypothetical", str(ctcf / f"h{k}.npz"),
                              "--batch-size", "16", "--device", "cpu"], env=env)
        assert r.exit_code == 0, r.output
        lines = _progress_lines(r.stderr, "attribute")
        _check_lines(lines, "attribute", 60, "seq")
        assert len(lines) == 5  # ceil(60 / 16) batches + the closing line
        assert r.stderr.splitlines()[-1].startswith("explained 60 sequences")
    r = run.invoke(main, ["merge", "--kind", "onehot", str(ctcf / "ohe0.npz"), str(ctcf / "ohe1.npz"), "-o",
                          str(ctcf / "ohe.npz")], env=env)
    assert r.exit_code == 0, r.output
    _check_lines(_progress_lines(r.stderr, "merge"), "merge", 120, "rows")
    r = run.invoke(main, ["merge", str(ctcf / "a0.npz"), str(ctcf / "a1.npz"), "-o", str(ctcf / "a.npz")], env=env)
    assert r.exit_code == 0, r.output
    _check_lines(_progress_lines(r.stderr, "merge indices"), "merge indices", 120, "rows")
    _check_lines(_progress_lines(r.stderr, "merge values"), "merge values", 120, "rows")
    r = run.invoke(main, ["merge", "--dense", str(ctcf / "h0.npz"), str(ctcf / "h1.npz"), "-o",
                          str(ctcf / "h.npz")], env=env)
    assert r.exit_code == 0, r.output
    # tfmodisco-lite on the hypothetical scores: a line after each sign it clusters
    r = run.invoke(main, ["motifs", "-a", str(ctcf / "h.npz"), "-s", str(ctcf / "ohe.npz"), "-o",
                          str(ctcf / "m.meme"), "--no-jaspar", "--min-metacluster-size", "10", "--min-support", "5"],
                   env=env)
    assert r.exit_code == 0, r.output
    lines = _progress_lines(r.stderr, "motifs")
    assert lines and all(LINE.match(ln) for ln in lines[:-1]) and FINAL.match(lines[-1]), r.stderr
    counts = [int(LINE.match(ln)["n"]) for ln in lines[:-1]]
    assert counts == sorted(counts) and counts[-1] == int(LINE.match(lines[0])["total"])
    assert " patterns from " in r.stdout and "motifs:" not in r.stdout  # stdout keeps only the results


def test_no_progress_lines_for_short_runs_or_when_off(ctcf):
    """Default interval (30 s): a short run prints only its summary; SPARSELRP_PROGRESS=off silences all."""
    run = CliRunner()
    args = ["attribute", "-m", "pretrained:ctcf", "-s", str(ctcf / "ohe0.npz"), "-o", str(ctcf / "q.npz"),
            "--batch-size", "16", "--device", "cpu"]
    r = run.invoke(main, args, env={"SPARSELRP_PROGRESS_INTERVAL": None, "SPARSELRP_PROGRESS": None})
    assert r.exit_code == 0 and r.stderr.splitlines() == [f"explained 60 sequences of length 200 -> {ctcf / 'q.npz'}"]
    r = run.invoke(main, args, env={"SPARSELRP_PROGRESS_INTERVAL": "0", "SPARSELRP_PROGRESS": "off"})
    assert r.exit_code == 0 and len(r.stderr.splitlines()) == 1
    r = run.invoke(main, args, env={"SPARSELRP_PROGRESS": "loud"})
    assert r.exit_code == 1 and r.stderr.splitlines() == [
        "sparselrp: error: SPARSELRP_PROGRESS='loud': expected one of auto, bar, log, off"]


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_attribute_draws_a_bar_on_a_terminal(ctcf):
    """stderr on a (pseudo-)terminal: a tqdm bar, no log lines."""
    import fcntl
    import struct
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty has 0 columns
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARSELRP_PROGRESS")}
    exe = os.path.join(os.path.dirname(sys.executable), "sparselrp")
    proc = subprocess.Popen([exe, "attribute", "-m", "pretrained:ctcf", "-s", str(ctcf / "ohe0.npz"), "-o",
                             str(ctcf / "t.npz"), "--batch-size", "16", "--device", "cpu"],
                            stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "attribute" in text and "60/60" in text and "seq/s" in text and "\r" in text, text
    assert not any(LINE.match(ln.strip()) for ln in text.replace("\r", "\n").splitlines())
    assert "explained 60 sequences" in text
