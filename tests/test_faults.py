"""Issue 18: faults - a test per fault for `sparselrp attribute`, `merge` and `motifs`.

- SIGKILL in the middle of a run, then a rerun: the same outputs as an uninterrupted run, and no partial
  or temporary file left;
- a write that fails because the disk is full: one clear error line, no partial file, old outputs kept;
- a corrupted npz (input one-hot, attribution shard) or safetensors (model weights): one clear line;
- a model directory whose config names a class the user did not allow, or a pickle renamed .safetensors:
  refused, and nothing of it runs.

The killed runs are real processes (``SPARSELRP_PROGRESS_INTERVAL=0`` makes them print a progress line after
each step; the kill comes right after the first one, so it lands while the command works, whatever the speed
of the machine). The properties checked hold wherever the kill lands.
"""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sparselrp as sl
from sparselrp import pipeline as slp
from sparselrp.cli import main
from sparselrp.io.attributions import save_attributions

EXE = Path(sys.executable).parent / "sparselrp"
CTCF_MODEL = slp.resolve_model("package:ctcf")


COMMANDS = ["attribute", "merge", "motifs"]


def cli(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def one_error_line(r, *needles):
    """Exit 1, exactly one stderr line `sparselrp: error: ...` holding every needle, no traceback."""
    assert r.exit_code == 1, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparselrp: error: "), r.stderr
    assert "Traceback" not in r.output
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    # attribute: 3000 random sequences, a small CNN, 30 batches
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (3000, 200))].transpose(0, 2, 1).copy()
    np.savez_compressed(d / "big_ohe.npz", arr_0=X)
    torch.manual_seed(0)
    sl.models.save(sl.models.ZOO["small_cnn"](n_targets=2, seq_len=200, n_filters=8, kernel_size=9, hidden=8),
                   d / "model")
    # merge: four sparse attribution shards of 2000 x 4 x 200
    for k in range(4):
        R = rng.normal(size=(2000, 4, 200)).astype(np.float32) * (rng.random((2000, 4, 200)) < 0.1)
        save_attributions(d / f"shard{k}.npz", R, sparse=True)
    # motifs: the shipped CTCF peaks explained by the shipped model, with hypothetical scores
    fasta = slp.resolve_data("package:ctcf_peaks_fasta")
    assert cli("encode", fasta, "-o", d / "ctcf_ohe.npz").exit_code == 0
    r = cli("attribute", "-m", CTCF_MODEL, "-s", d / "ctcf_ohe.npz", "-o", d / "ctcf_attr.npz", "--sparse",
            "--hypothetical", d / "ctcf_hyp.npz", "--device", "cpu")
    assert r.exit_code == 0, r.output
    return d


def _commands(d, out):
    """command -> (arguments writing under `out`, the progress label, the outputs)."""
    return {
        "attribute": (["attribute", "-m", d / "model", "-s", d / "big_ohe.npz", "-o", out / "attr.npz", "--dense",
                       out / "attr.dense.npz", "--batch-size", "100", "--device", "cpu", "--target", "1"],
                      "attribute", ["attr.npz", "attr.dense.npz"]),
        "merge": (["merge", "--dense", *[d / f"shard{k}.npz" for k in range(4)], "-o", out / "merged.npz"],
                  "merge", ["merged.npz"]),
        "motifs": (["motifs", "-a", d / "ctcf_hyp.npz", "-s", d / "ctcf_ohe.npz", "-o", out / "motifs.meme",
                    "--json", out / "motifs.json", "--h5", out / "motifs.h5", "--no-jaspar",
                    "--min-metacluster-size", "20"], "motifs",
                   ["motifs.meme", "motifs.json", "motifs.h5"]),
    }


def _content(path):
    """What must be identical between two runs: npz arrays (zip timestamps aside), text otherwise."""
    if path.suffix == ".npz":
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".h5":
        import h5py

        out = {}
        with h5py.File(path, "r") as fh:
            fh.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out
    return path.read_bytes()


def _assert_same(a, b):
    if isinstance(a, dict) and a and all(isinstance(v, np.ndarray) for v in a.values()):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    else:
        assert a == b


# ----------------------------------------------------------------------------- kill -9, then rerun


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_sigkill_mid_run_then_rerun_gives_identical_outputs_and_no_partial_file(data, tmp_path, command):
    out = tmp_path / "out"
    out.mkdir()
    args, label, outputs = _commands(data, out)[command]
    # the uninterrupted run
    r = cli(*args)
    assert r.exit_code == 0, r.output
    want = {name: _content(out / name) for name in outputs}
    for name in outputs:
        (out / name).unlink()
    env = dict(os.environ, SPARSELRP_PROGRESS="log", SPARSELRP_PROGRESS_INTERVAL="0")
    cmd = [str(EXE), *map(str, args)]
    if command == "motifs":
        # tfmodisco-lite reports once per sign, at the end of its work: kill halfway through the time an
        # uninterrupted run takes instead (the checks below hold wherever the kill lands)
        t0 = time.monotonic()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True, timeout=600)
        half = (time.monotonic() - t0) / 2
        for name in outputs:
            (out / name).unlink()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            proc.wait(timeout=half)
        except subprocess.TimeoutExpired:
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
    else:
        # SIGKILL right after the first progress line
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        seen = False
        for line in proc.stderr:
            if line.startswith(label + ":") or line.startswith(label + " "):
                seen = True
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
        proc.stderr.close()
        assert seen, f"{command} printed no progress line before it ended"
    # no partial output: each output is absent or complete (then equal to the uninterrupted run's)
    for name in outputs:
        if (out / name).exists():
            _assert_same(_content(out / name), want[name])
    if command != "motifs":  # killed while working: its hidden temporaries are left (or, just done, its outputs)
        left = sorted(f for f in os.listdir(out) if f.startswith("."))
        assert left or all((out / name).exists() for name in outputs)
    # the rerun writes the same outputs and removes what the killed run left behind
    r = cli(*args)
    assert r.exit_code == 0, r.output
    for name in outputs:
        _assert_same(_content(out / name), want[name])
    assert sorted(os.listdir(out)) == sorted(outputs)


# ----------------------------------------------------------------------------- disk full


class _FullDisk:
    """Writes that fail with ENOSPC once `limit` bytes went to files being written (zip members or text)."""

    def __init__(self, monkeypatch, limit=200):
        import sparselrp._atomic as atomic

        self.limit, self.written = limit, 0
        real_zip_write = zipfile._ZipWriteFile.write
        full = self

        def zip_write(fh, data):
            full._count(len(memoryview(data).cast("B")))
            return real_zip_write(fh, data)

        class TextFile(io.TextIOWrapper):
            def write(self, s):
                full._count(len(s))
                return super().write(s)

        real_open = open

        def atomic_open_file(path, mode="r", **kw):
            fh = real_open(path, mode.replace("b", "") + "b" if "w" in mode else mode)
            if "b" in mode:
                return fh
            return TextFile(fh, encoding=kw.get("encoding") or "utf-8", newline=kw.get("newline"))

        monkeypatch.setattr(zipfile._ZipWriteFile, "write", zip_write)
        monkeypatch.setattr(atomic, "open", atomic_open_file, raising=False)

    def _count(self, n):
        self.written += n
        if self.written > self.limit:
            raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", COMMANDS)
def test_full_disk_gives_one_clear_line_and_no_partial_file(data, tmp_path, monkeypatch, command):
    out = tmp_path / "out"
    out.mkdir()
    args, _, outputs = _commands(data, out)[command]
    if command == "attribute":  # a smaller input is enough here
        args[args.index(data / "big_ohe.npz")] = data / "ctcf_ohe.npz"
        args[args.index(data / "model")] = CTCF_MODEL
        args[args.index("--target") + 1] = "0"
    old = {name: f"old {name}, must survive".encode() for name in outputs}
    for name, content in old.items():
        (out / name).write_bytes(content)
    full = _FullDisk(monkeypatch)
    r = cli(*args)
    assert full.written > full.limit  # the failure came in the middle of writing
    line = one_error_line(r, "no space left on device")
    assert str(out / outputs[0]) in line and "nothing was written" in line
    assert sorted(os.listdir(out)) == sorted(outputs)  # no partial file, no temporary
    for name, content in old.items():
        assert (out / name).read_bytes() == content


# ----------------------------------------------------------------------------- corrupted files


def _corrupt(src, dst, how):
    data = bytearray(Path(src).read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":  # bytes inside the compressed array data: a broken deflate stream or a bad CRC
        with zipfile.ZipFile(src) as zf:
            info = max(zf.infolist(), key=lambda i: i.compress_size)
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
        for k in range(64):
            data[start + info.compress_size // 2 + k] ^= 0xFF
    elif how == "garbage":
        data = bytearray(b"\x00garbage" * 100)
    Path(dst).write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("how", ["truncated", "flipped", "garbage"])
@pytest.mark.parametrize("command", COMMANDS)
def test_corrupted_npz_gives_one_clear_line(data, tmp_path, command, how):
    if command == "attribute":
        bad = _corrupt(data / "ctcf_ohe.npz", tmp_path / "bad.npz", how)
        r = cli("attribute", "-m", CTCF_MODEL, "-s", bad, "-o", tmp_path / "a.npz", "--device", "cpu")
    elif command == "merge":
        bad = _corrupt(data / "shard1.npz", tmp_path / "bad.npz", how)
        r = cli("merge", "--dense", data / "shard0.npz", bad, "-o", tmp_path / "m.npz")
    else:
        bad = _corrupt(data / "ctcf_hyp.npz", tmp_path / "bad.npz", how)
        r = cli("motifs", "-a", bad, "-s", data / "ctcf_ohe.npz", "-o", tmp_path / "m.meme", "--no-jaspar")
    one_error_line(r, bad)
    assert sorted(os.listdir(tmp_path)) == ["bad.npz"]


@pytest.mark.parametrize("how", ["truncated", "flipped", "garbage"])
def test_corrupted_safetensors_gives_one_clear_line(data, tmp_path, how):
    model = tmp_path / "model"
    shutil.copytree(CTCF_MODEL, model)
    weights = model / "model.safetensors"
    _corrupt_bytes = bytearray(weights.read_bytes())
    if how == "truncated":
        _corrupt_bytes = _corrupt_bytes[: len(_corrupt_bytes) // 2]
    elif how == "flipped":  # the JSON header that says where each tensor lies
        for k in range(8, 40):
            _corrupt_bytes[k] ^= 0xFF
    else:
        _corrupt_bytes = bytearray(b"\x00garbage" * 100)
    weights.write_bytes(bytes(_corrupt_bytes))
    r = cli("attribute", "-m", model, "-s", data / "ctcf_ohe.npz", "-o", tmp_path / "a.npz", "--device", "cpu")
    one_error_line(r, weights)
    assert not (tmp_path / "a.npz").exists()


# ----------------------------------------------------------------------------- unsafe model directories


def test_model_class_the_user_did_not_allow_is_refused_before_import(data, tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    marker = tmp_path / "IMPORTED"
    (pkg / "not_allowed_model.py").write_text(
        f"open({str(marker)!r}, 'w').write('the module ran')\n"
        "from sparselrp.models.zoo import SmallCNN as Net\n")
    monkeypatch.syspath_prepend(str(pkg))
    model = tmp_path / "model"
    shutil.copytree(CTCF_MODEL, model)
    cfg = json.loads((model / "config.json").read_text())
    cfg.pop("architecture", None)
    cfg["class"] = "not_allowed_model:Net"
    (model / "config.json").write_text(json.dumps(cfg))
    r = cli("attribute", "-m", model, "-s", data / "ctcf_ohe.npz", "-o", tmp_path / "a.npz", "--device", "cpu")
    line = one_error_line(r, "not_allowed_model:Net", "refused")
    assert "allow_classes" in line
    assert not marker.exists()  # the module was never imported
    assert not (tmp_path / "a.npz").exists()


class _RunsCode:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('SPARSELRP_TEST_MARKER', '/nonexistent/x')}",))


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_pickle_renamed_safetensors_is_refused_and_never_runs(data, tmp_path, monkeypatch, kind):
    import pickle

    marker = tmp_path / "RAN"
    monkeypatch.setenv("SPARSELRP_TEST_MARKER", str(marker))
    model = tmp_path / "model"
    shutil.copytree(CTCF_MODEL, model)
    weights = model / "model.safetensors"
    payload = {"conv.weight": _RunsCode()}
    if kind == "torch.save":
        torch.save(payload, weights)
    else:
        weights.write_bytes(pickle.dumps(payload))
    r = cli("attribute", "-m", model, "-s", data / "ctcf_ohe.npz", "-o", tmp_path / "a.npz", "--device", "cpu")
    one_error_line(r, weights, "renamed to .safetensors", "refused")
    assert not marker.exists()
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("how", ["truncated", "flipped", "garbage"])
def test_corrupted_hdf5_gives_one_clear_line(data, tmp_path, how):
    """The tfmodisco-lite results file that `sparselrp motifs --h5` writes, damaged, read back."""
    pytest.importorskip("h5py")
    from sparselrp.errors import InputFormatError
    from sparselrp.io.modisco import read_modisco_h5

    good = tmp_path / "good.h5"
    r = cli("motifs", "-a", data / "ctcf_hyp.npz", "-s", data / "ctcf_ohe.npz", "-o", tmp_path / "m.meme",
            "--h5", good, "--no-jaspar")
    assert r.exit_code == 0, r.output
    assert read_modisco_h5(good)  # the intact file reads
    raw = bytearray(good.read_bytes())
    if how == "truncated":
        raw = raw[: len(raw) // 2]
    elif how == "flipped":  # the superblock and the root group's header
        for k in range(0, 96):
            raw[k] ^= 0xFF
    else:
        raw = bytearray(b"\x00garbage" * 100)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InputFormatError) as info:
        read_modisco_h5(bad)
    lines = str(info.value).strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(str(bad)), lines
