"""Atomic outputs: a killed or failing writer leaves the old file or the new one, never a mix."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from sparselrp._atomic import DiskFullError, _host_tag, atomic_open, atomic_savez, remove_stale_temporaries

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from sparselrp._atomic import atomic_savez
    path, value = sys.argv[1], float(sys.argv[2])
    X = np.full((400, 4, 1000), value, dtype=np.float32)
    X += np.random.default_rng(0).random(X.shape, dtype=np.float32)  # incompressible, slow to write
    print("start", flush=True)
    while True:
        atomic_savez(path, arr_0=X)
    """
)


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.8])
def test_killed_writer_leaves_complete_file(tmp_path, delay):
    out = tmp_path / "attr.npz"
    old = np.zeros((3, 4, 5), dtype=np.float32)
    atomic_savez(out, arr_0=old)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(out), "7"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"start"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with np.load(out) as f:
        arr = f["arr_0"]
    if arr.shape == old.shape:
        np.testing.assert_array_equal(arr, old)
    else:
        assert arr.shape == (400, 4, 1000)
        assert arr.min() >= 7 and arr.max() <= 8
    # temporary files of the killed writer are hidden dot-files; the target is never partial
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["attr.npz", "writer.py"]


def test_failing_write_keeps_old_file_and_cleans_up(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("old complete content\n")
    with pytest.raises(DiskFullError) as info:
        with atomic_open(out, "w") as fh:
            fh.write("new partial")
            raise OSError(28, "No space left on device (disk full simulated)")
    # a clear message naming the output, still an OSError with errno ENOSPC
    assert str(info.value) == (f"{out}: no space left on device while writing it; nothing was written "
                               "(free some space, or write to another disk)")
    assert isinstance(info.value, OSError) and info.value.errno == 28
    assert out.read_text() == "old complete content\n"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]
    # other errors pass through unchanged
    with pytest.raises(OSError, match="EIO simulated"):
        with atomic_open(out, "w") as fh:
            raise OSError(5, "EIO simulated")
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    """A SIGKILLed writer's temporary goes on the next write of the same target; a running writer's stays."""
    out = tmp_path / "x.npz"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        host = _host_tag()
        live_tmp = tmp_path / f".x.npz.p{sleeper.pid}h{host}.abc.tmp.npz"
        dead_tmp = tmp_path / f".x.npz.p{dead.pid}h{host}.def.tmp.npz"
        nested = tmp_path / f"..x.npz.p{dead.pid}h{host}.def.tmp.npz.p{dead.pid}h{host}.g.tmp.npz"
        other_host = tmp_path / f".x.npz.p{dead.pid}h{(int(host, 16) ^ 1):08x}.hij.tmp.npz"
        other_target = tmp_path / f".y.npz.p{dead.pid}h{host}.klm.tmp.npz"
        for p in (live_tmp, dead_tmp, nested, other_host, other_target):
            p.write_bytes(b"partial")
        atomic_savez(out, arr_0=np.arange(3))
        left = sorted(os.listdir(tmp_path))
        assert left == sorted(["x.npz", live_tmp.name, other_host.name, other_target.name])
        assert remove_stale_temporaries(tmp_path / "y.npz") == [other_target]
    finally:
        sleeper.kill()
        sleeper.wait()


def test_missing_and_readonly_directories_are_named(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_savez(tmp_path / "nope" / "x.npz", arr_0=np.zeros(1))
    ro = tmp_path / "ro"
    ro.mkdir()
    # root ignores permission bits, so the read-only check is driven through os.access
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(ro) else real_access(p, mode))
    with pytest.raises(PermissionError, match="not writable"):
        atomic_savez(ro / "x.npz", arr_0=np.zeros(1))
    assert list(ro.iterdir()) == []
