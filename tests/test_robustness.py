"""Issue 9: bad models, bad inputs, bad output paths and interrupted runs of ``sparselrp attribute``.

Each bad input gets a non-zero exit, one stderr line ``sparselrp: error: ...`` (or a
click usage error of a few lines), no traceback, no warning or progress noise, and no
output file - not even a temporary one; an output that existed before is left as it was.
Most runs go through click's CliRunner in-process; a few through real subprocesses.
"""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import sparselrp as sl
from sparselrp.attribute import attribute_file, clean_stale_temporaries
from sparselrp.cli import main
from sparselrp.errors import InputFormatError, ModelFileError, UnsupportedOperationError

N, L = 5, 40
OLD = b"old attributions, must survive a failed run"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("robust")
    torch.manual_seed(0)
    small = sl.models.ZOO["small_cnn"](n_targets=2, seq_len=L, n_filters=6, kernel_size=5, hidden=6)
    sl.models.save(small, d / "small", metadata={"tasks": ["a", "b"]})
    # DeepSEA-like: a dense layer after the convolutions fixes the input length
    dense = sl.models.ZOO["deepsea"](n_targets=3, seq_len=64, channels=(4, 4, 4), kernel_size=3, pool=2,
                                     hidden=5)
    sl.models.save(dense, d / "dense")
    rng = np.random.default_rng(0)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (N, L))].transpose(0, 2, 1).copy()
    np.savez_compressed(d / "ohe.npz", arr_0=X)
    return {"dir": d, "small": d / "small", "dense": d / "dense", "ohe": d / "ohe.npz", "X": X}


@pytest.fixture
def outdir(tmp_path):
    """An output directory holding an old output that a failed run must leave untouched."""
    o = tmp_path / "out"
    o.mkdir()
    (o / "attr.npz").write_bytes(OLD)
    return o


def assert_clean_error(result, outdir, match, usage=False):
    """Non-zero exit, one error line (or a short usage error), no traceback or noise, nothing written."""
    assert result.exit_code == (2 if usage else 1), (result.exit_code, result.output)
    err = result.stderr.strip().splitlines()
    if usage:
        assert err[0].startswith("Usage:") and len(err) <= 5, result.stderr
        assert err[-1].startswith("Error:"), result.stderr
    else:
        assert len(err) == 1 and err[0].startswith("sparselrp: error: "), result.stderr
    assert match in result.stderr, result.stderr
    assert result.stdout == ""
    for noise in ("Traceback", "Warning", "warning", "%|", "it/s"):
        assert noise not in result.output, result.output
    assert sorted(os.listdir(outdir)) == ["attr.npz"], os.listdir(outdir)  # no new file, no temporary
    assert (outdir / "attr.npz").read_bytes() == OLD


def _model_variant(env, tmp_path, name, edit_config=None, weights_from=None, weights_file=None):
    d = tmp_path / name
    shutil.copytree(env["small"], d)
    if edit_config is not None:
        cfg = json.loads((d / "config.json").read_text())
        edit_config(cfg)
        (d / "config.json").write_text(json.dumps(cfg))
    if weights_from is not None:
        shutil.copy(Path(weights_from) / "model.safetensors", d / "model.safetensors")
    return d


# ----------------------------------------------------------------------------- models


def test_unknown_architecture(env, tmp_path, outdir):
    m = _model_variant(env, tmp_path, "m", edit_config=lambda c: c.update(architecture="transformer"))
    r = run("attribute", "-m", m, "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "unknown architecture 'transformer'")
    assert "config.json" in r.stderr and "small_cnn" in r.stderr  # names the file and the known ones


def test_config_argument_the_architecture_does_not_take(env, tmp_path, outdir):
    m = _model_variant(env, tmp_path, "m", edit_config=lambda c: c["kwargs"].update(n_heads=8))
    assert_clean_error(run("attribute", "-m", m, "-s", env["ohe"], "-o", outdir / "attr.npz"), outdir,
                       "does not take argument(s) n_heads")


def test_weights_that_do_not_match_the_config(env, tmp_path, outdir):
    m = _model_variant(env, tmp_path, "m", weights_from=env["dense"])
    r = run("attribute", "-m", m, "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "weights do not match the model")
    assert "model.safetensors" in r.stderr and "shape mismatch" in r.stderr


def test_missing_model_directory(env, tmp_path, outdir):
    assert_clean_error(run("attribute", "-m", tmp_path / "nope", "-s", env["ohe"], "-o", outdir / "attr.npz"),
                       outdir, "no such model directory")


def test_model_given_as_a_file_or_unknown_pretrained_name(env, outdir):
    r = run("attribute", "-m", env["small"] / "model.safetensors", "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "--model must be a model directory")
    r = run("attribute", "-m", "pretrained:nosuch", "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "unknown pretrained model 'nosuch'; available:")
    assert '"' not in r.stderr  # not the repr of a KeyError


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_is_a_usage_error(env, outdir):
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--device", "cuda")
    assert_clean_error(r, outdir, "CUDA is not available here", usage=True)


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_crafted_pickle_is_refused_and_never_runs(env, tmp_path, outdir):
    marker = tmp_path / "PWNED"
    m = _model_variant(env, tmp_path, "m", edit_config=lambda c: c.update(weights="model.pt"))
    state = {k: v for k, v in sl.models.load(env["small"], device="cpu").state_dict().items()}
    state["evil"] = _Payload(marker)
    torch.save(state, m / "model.pt")
    (m / "model.safetensors").unlink()
    r = run("attribute", "-m", m, "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "refused to load")
    assert "model.pt" in r.stderr
    with pytest.raises(ModelFileError, match="refused to load"):
        sl.models.load(m)
    assert not marker.exists()
    # the payload is live: an unsafe load would have run it (so the test above can fail)
    torch.load(m / "model.pt", weights_only=False)
    assert marker.exists()


# ----------------------------------------------------------------------------- inputs


def test_length_the_model_cannot_take_names_the_expected_length(env, outdir):
    r = run("attribute", "-m", env["dense"], "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, f"sequences have length L = {L} but the model takes L = 64")
    assert "seq_len" in r.stderr and "--length 64" in r.stderr and str(env["ohe"]) in r.stderr


def test_length_too_short_for_the_conv_stack(env, tmp_path, outdir):
    np.savez(tmp_path / "short.npz", arr_0=env["X"][:, :, :3])  # kernel 5 > L = 3
    r = run("attribute", "-m", env["small"], "-s", tmp_path / "short.npz", "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "L = 3 but the model takes L = 40")


@pytest.mark.parametrize("target,match,usage", [
    ("5", "target index 5 out of range: the model has 2 outputs (0..1)", False),
    ("-1", "target index -1 out of range", False),
    ("nosuchtask", "not an output index or task name (the model's tasks: a, b)", True),
])
def test_target_out_of_range(env, outdir, target, match, usage):
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--target", target)
    assert_clean_error(r, outdir, match, usage=usage)


@pytest.mark.parametrize("value,kind", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_nan_or_inf_in_inputs_names_sequence_and_position(env, tmp_path, outdir, value, kind):
    X = env["X"].copy()
    X[3, 2, 17] = value
    np.savez_compressed(tmp_path / "bad.npz", arr_0=X)
    r = run("attribute", "-m", env["small"], "-s", tmp_path / "bad.npz", "-o", outdir / "attr.npz",
            "--batch-size", 2)
    assert_clean_error(r, outdir, f"sequence 3 (0-based), position 17: one-hot value is {kind}")
    assert "bad.npz" in r.stderr


def test_nan_weights_in_the_model(env, tmp_path, outdir):
    model = sl.models.load(env["small"], device="cpu")
    with torch.no_grad():
        next(model.parameters())[0, 0, 0] = float("nan")
    sl.models.save(model, tmp_path / "nanmodel")
    r = run("attribute", "-m", tmp_path / "nanmodel", "-s", env["ohe"], "-o", outdir / "attr.npz")
    assert_clean_error(r, outdir, "holds NaN or Inf values")


class _Overflow(nn.Module):
    """Finite weights, infinite output on some inputs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 2, 3)
        self.lin = nn.Linear(2, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.lin.weight.fill_(3e38)

    def forward(self, x):
        return self.lin(torch.relu(self.conv(x)).mean(2))


def test_inf_in_model_outputs_names_the_sequences(env, tmp_path):
    old = tmp_path / "attr.npz"
    old.write_bytes(OLD)
    with pytest.raises(ValueError, match=r"sequences 0\.\.1 \(0-based\): the model output contains NaN or Inf"):
        attribute_file(_Overflow(), env["ohe"], old, batch_size=2, device="cpu")
    assert old.read_bytes() == OLD and sorted(os.listdir(tmp_path)) == ["attr.npz"]


@pytest.mark.parametrize("shape", [(N, L, 4), (N, 4), (N, 5, L)])
def test_one_hot_of_the_wrong_shape(env, tmp_path, outdir, shape):
    np.savez(tmp_path / "x.npz", arr_0=np.zeros(shape, np.float32))
    assert_clean_error(run("attribute", "-m", env["small"], "-s", tmp_path / "x.npz", "-o", outdir / "attr.npz"),
                       outdir, "expected (N, 4, L) one-hot")


@pytest.mark.parametrize("dtype", [np.complex64, "<U1"])
def test_one_hot_of_a_non_numeric_dtype(env, tmp_path, outdir, dtype):
    np.savez(tmp_path / "x.npz", arr_0=np.zeros((N, 4, L), dtype))
    assert_clean_error(run("attribute", "-m", env["small"], "-s", tmp_path / "x.npz", "-o", outdir / "attr.npz"),
                       outdir, "expected a real-valued one-hot")


def test_empty_and_integer_one_hot_files(env, tmp_path):
    np.savez(tmp_path / "empty.npz", arr_0=np.zeros((0, 4, L), np.float32))
    r = run("attribute", "-m", env["small"], "-s", tmp_path / "empty.npz", "-o", tmp_path / "e.npz")
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "e.npz")["arr_0"].shape == (0, 4, L)
    np.savez(tmp_path / "u8.npz", arr_0=env["X"].astype(np.uint8))
    r = run("attribute", "-m", env["small"], "-s", tmp_path / "u8.npz", "-o", tmp_path / "u.npz")
    assert r.exit_code == 0, r.output
    model = sl.models.load(env["small"], device="cpu")
    np.testing.assert_allclose(np.load(tmp_path / "u.npz")["arr_0"], sl.plrp(model, torch.from_numpy(env["X"])).numpy(),
                               rtol=1e-5, atol=1e-7)


def test_one_hot_that_is_not_an_npz(env, tmp_path, outdir):
    (tmp_path / "x.npz").write_text(">seq\nACGT\n")
    assert_clean_error(run("attribute", "-m", env["small"], "-s", tmp_path / "x.npz", "-o", outdir / "attr.npz"),
                       outdir, "not an .npz file")


def test_missing_one_hot_file_is_a_usage_error(env, tmp_path, outdir):
    assert_clean_error(run("attribute", "-m", env["small"], "-s", tmp_path / "x.npz", "-o", outdir / "attr.npz"),
                       outdir, "does not exist", usage=True)


class _SortNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 3, 3)
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        h = torch.sort(torch.relu(self.conv(x)), dim=2).values
        return self.lin(h.mean(2))


class _LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 3, batch_first=True)
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        h, _ = self.rnn(x.transpose(1, 2))
        return self.lin(h[:, -1])


@pytest.mark.parametrize("cls,name", [(_SortNet, "torch.sort"), (_LSTMNet, "LSTM")])
def test_unsupported_operation_is_named(env, tmp_path, cls, name):
    X = torch.from_numpy(env["X"])
    with pytest.raises(UnsupportedOperationError, match=name):
        sl.lrp(cls(), X, target=0)
    # and through the file-level step: the same error, nothing written
    with pytest.raises(UnsupportedOperationError, match=name):
        attribute_file(cls(), env["ohe"], tmp_path / "a.npz", device="cpu")
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- options


@pytest.mark.parametrize("opts,match", [
    (("--topk", "0"), "k must be at least 1, got 0"),
    (("--topk", "-3"), "k must be at least 1"),
    (("--topk", "1.5"), "a fractional k must be in (0, 1], got 1.5"),
    (("--topk", "0.0"), "a fractional k must be in (0, 1]"),
    (("--topk", "abc"), "neither an int nor a fraction"),
    (("--prune-mass", "1.0"), "p must be a number in [0, 1), got 1.0"),
    (("--prune-mass", "-0.1"), "got -0.1"),
    (("--prune-mass", "0.5", "--p-neg", "1.5"), "p_neg must be in [0, 1)"),
    (("--topk", "3", "--prune-mass", "0.5"), "either --topk or --prune-mass"),
    (("--p-neg", "0.2"), "--p-neg needs --prune-mass"),
    (("--topk", "3", "--p-neg", "0.2"), "--p-neg needs --prune-mass"),
    (("--no-prune", "--p-neg", "0.2"), "--no-prune excludes"),
    (("--batch-size", "0"), "--batch-size"),
    (("--composite", "lrp-magic"), "--composite"),
])
def test_k_or_p_out_of_range_is_a_usage_error(env, outdir, opts, match):
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", *opts)
    assert_clean_error(r, outdir, match, usage=True)


# ----------------------------------------------------------------------------- output paths


@pytest.mark.parametrize("which", ["-o", "--dense", "--hypothetical", "--stats"])
def test_output_in_a_missing_directory(env, outdir, which):
    args = ["attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--composite", "epsilon"]
    target = outdir / "missing" / "x.npz"
    if which == "-o":
        args[args.index("-o") + 1] = target
    else:
        args += [which, target]
    r = run(*args)
    assert_clean_error(r, outdir, f"output directory {outdir / 'missing'} does not exist")


def test_output_in_a_read_only_directory(env, outdir, monkeypatch):
    ro = outdir / "ro"
    ro.mkdir()
    real_access = os.access

    def access(path, mode, *a, **k):  # root ignores permission bits: pretend the directory is read-only
        if Path(path) == ro and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **k)

    monkeypatch.setattr(os, "access", access)
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--stats",
            ro / "stats.json")
    ro.rmdir()
    assert_clean_error(r, outdir, f"output directory {ro} is not writable")


def test_output_same_as_input_or_given_twice(env, tmp_path, outdir):
    ohe = tmp_path / "ohe.npz"
    shutil.copy(env["ohe"], ohe)
    r = run("attribute", "-m", env["small"], "-s", ohe, "-o", ohe)
    assert r.exit_code == 1 and "is the input one-hot file" in r.stderr
    assert np.array_equal(np.load(ohe)["arr_0"], env["X"])
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--dense",
            outdir / "attr.npz")
    assert_clean_error(r, outdir, "given as both the output and the dense output path")


def _disk_full_after_first_chunk(monkeypatch):
    """Make the attribution writer fail with ENOSPC after it has written part of a member."""
    import sparselrp.io.attributions as attr_io

    real = attr_io._write_member
    calls = {"n": 0}

    def failing(zf, name, shape, dtype, chunks):
        def gen():
            for i, c in enumerate(chunks):
                if i == 1 or (i == 0 and calls["n"] > 0):
                    raise OSError(errno.ENOSPC, "No space left on device")
                yield c
        calls["n"] += 1
        return real(zf, name, shape, dtype, gen())

    monkeypatch.setattr(attr_io, "_write_member", failing)


def test_disk_full_while_writing_attributions(env, outdir, monkeypatch):
    _disk_full_after_first_chunk(monkeypatch)
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--batch-size", 2,
            "--stats", outdir / "stats.json")
    assert_clean_error(r, outdir, f"{outdir / 'attr.npz'}: no space left on device while writing the outputs")


def test_disk_full_while_writing_stats_leaves_no_attributions(env, outdir, monkeypatch):
    """All outputs commit together: a failure on the last one leaves none of them."""
    import sparselrp.attribute as attribute_mod

    def dump(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(attribute_mod.json, "dump", dump)
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", outdir / "attr.npz", "--dense",
            outdir / "dense.npz", "--stats", outdir / "stats.json")
    assert_clean_error(r, outdir, "no space left on device")


def test_debug_shows_the_traceback(env, tmp_path):
    m = _model_variant(env, tmp_path, "m", edit_config=lambda c: c.update(architecture="transformer"))
    r = CliRunner().invoke(main, ["--debug", "attribute", "-m", str(m), "-s", str(env["ohe"]), "-o",
                                  str(tmp_path / "a.npz")])
    assert r.exit_code == 1 and "Traceback" in r.stderr and "ModelFileError" in r.stderr


# ----------------------------------------------------------------------------- stale temporaries


def test_stale_temporaries_of_a_killed_run_are_removed_by_the_next_run(env, tmp_path):
    out = tmp_path / "attr.npz"
    stale = [tmp_path / ".attr.npz.abc123.tmp.npz", tmp_path / "..attr.npz.abc123.tmp.npz.x1.tmp.npz"]
    for p in stale:
        p.write_bytes(b"partial")
    parts = tmp_path / "..attr.npz.abc123.tmp.npz.zz.parts"
    parts.mkdir()
    (parts / "00000000.idx.npy").write_bytes(b"x")
    keep = [tmp_path / ".attr.npz.notes", tmp_path / ".other.npz.q.tmp.npz", tmp_path / "attr.npz.tmp"]
    for p in keep:
        p.write_bytes(b"user file")
    r = run("attribute", "-m", env["small"], "-s", env["ohe"], "-o", out)
    assert r.exit_code == 0, r.output
    assert sorted(os.listdir(tmp_path)) == sorted(["attr.npz"] + [p.name for p in keep])
    assert clean_stale_temporaries(tmp_path / "missing-dir" / "x.npz") == []


# ----------------------------------------------------------------------------- real processes


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "sparselrp.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.mark.slow
def test_subprocess_bad_model_one_line_no_traceback(env, tmp_path):
    m = _model_variant(env, tmp_path, "m", weights_from=env["dense"])
    p = _cli("attribute", "-m", m, "-s", env["ohe"], "-o", tmp_path / "a.npz", "--topk", "4")
    assert p.returncode == 1, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sparselrp: error: ") and "weights do not match" in lines[0]
    assert p.stdout == "" and not (tmp_path / "a.npz").exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".")]
    # a good run: one summary line on stderr, no warnings or progress bar when stderr is not a terminal
    p = _cli("attribute", "-m", env["small"], "-s", env["ohe"], "-o", tmp_path / "a.npz", "--topk", "4",
             "--stats", tmp_path / "s.json")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "" and p.stderr.strip().splitlines() == [
        f"explained {N} sequences of length {L} -> {tmp_path / 'a.npz'} "
        f"(zero positions {json.loads((tmp_path / 's.json').read_text())['input_zero_share']:.1%})"]


def _big_input(d, n=3000, length=200):
    rng = np.random.default_rng(1)
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (n, length))].transpose(0, 2, 1).copy()
    np.savez(d / "big.npz", arr_0=X)
    torch.manual_seed(0)
    model = sl.models.ZOO["small_cnn"](n_targets=2, seq_len=length, n_filters=8, kernel_size=9, hidden=8)
    sl.models.save(model, d / "model")
    return d / "big.npz", d / "model"


def _hidden(d):
    return sorted(f for f in os.listdir(d) if f.startswith("."))


def _writing_final_file(d):
    # the streaming writer's final pass: a temporary of the output's own temporary
    return any(f.startswith("..") and not f.endswith(".parts") for f in os.listdir(d))


@pytest.mark.slow
@pytest.mark.parametrize("sig,phase", [(signal.SIGKILL, "explaining"), (signal.SIGKILL, "writing"),
                                       (signal.SIGTERM, "explaining")])
def test_killed_run_leaves_old_or_new_output_never_a_partial_one(tmp_path, sig, phase):
    """Kill `sparselrp attribute` at a random moment while it explains or while it writes the files."""
    ohe, model = _big_input(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    attr = out / "attr.npz"
    loaded = sl.models.load(model, device="cpu")
    attribute_file(loaded, ohe, attr, target=0, batch_size=500)
    old = attr.read_bytes()
    new_cmd = [sys.executable, "-m", "sparselrp.cli", "attribute", "-m", str(model), "-s", str(ohe), "-o", str(attr),
               "--target", "1", "--batch-size", 500, "--dense", str(out / "dense.npz")]
    rng = random.Random(f"{int(sig)}{phase}")
    ready = _writing_final_file if phase == "writing" else _hidden
    proc = subprocess.Popen(list(map(str, new_cmd)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.time()
    while not ready(out) and proc.poll() is None and time.time() - t0 < 240:
        time.sleep(0.005)
    time.sleep(rng.uniform(0.0, 0.3 if phase == "writing" else 1.0))
    proc.send_signal(sig)
    proc.communicate(timeout=120)
    # the output is the complete old file or the complete new one
    data = attr.read_bytes()
    if data != old:  # complete: the dense copy of the same run agrees (and below: the map a clean run writes)
        np.testing.assert_array_equal(np.load(attr)["arr_0"], np.load(out / "dense.npz")["arr_0"])
    if sig == signal.SIGTERM:
        # 143 from our handler; 0 or -15 only if it had already committed its outputs
        assert proc.returncode in (143, 0, -15), proc.returncode
        assert proc.returncode == 143 or data != old
        assert _hidden(out) == []  # SIGTERM lets the writers remove their temporaries
    # the next normal run removes whatever a SIGKILL left behind and writes the new output
    attribute_file(loaded, ohe, attr, target=1, batch_size=500, dense_path=out / "dense.npz")
    assert _hidden(out) == []
    new = np.load(attr)["arr_0"]
    assert new.shape == (3000, 4, 200) and attr.read_bytes() != old
    if data != old:
        import io

        np.testing.assert_array_equal(np.load(io.BytesIO(data))["arr_0"], new)


def test_every_row_of_docs_errors_names_existing_tests():
    """docs/errors.md: one table, `| input | what you get | test |`, each row backed by a test that exists."""
    import re

    root = Path(__file__).resolve().parents[1]
    lines = (root / "docs" / "errors.md").read_text().splitlines()
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| input") and not ln.startswith("| ---")]
    assert len(rows) > 40
    assert sum(ln.startswith("| input | what you get | test |") for ln in lines) == 1
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
        assert len(cells) == 3, row
        refs = re.findall(r"(tests/[\w/]+\.py)(?:::(\w+))?", cells[2])
        assert refs, row
        for path, name in refs:
            assert (root / path).is_file(), (row, path)
            if name:
                assert re.search(rf"^(async )?def {name}\(", (root / path).read_text(), re.M), (row, name)


def test_sigterm_becomes_systemexit_and_cleans_up(env, tmp_path, monkeypatch):
    """In-process: SIGTERM during `attribute` raises SystemExit(143); the writers remove their temporaries."""
    import sparselrp.io.attributions as attr_io
    from sparselrp.cli._common import terminate_cleanly as _terminate_cleanly

    before = signal.getsignal(signal.SIGTERM)
    real_append = attr_io.AttributionWriter.append

    def append_then_terminated(self, R):
        real_append(self, R)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the run is half done
        time.sleep(1)

    monkeypatch.setattr(attr_io.AttributionWriter, "append", append_then_terminated)
    (tmp_path / "attr.npz").write_bytes(OLD)
    model = sl.models.load(env["small"], device="cpu")
    with pytest.raises(SystemExit) as info:
        with _terminate_cleanly():
            attribute_file(model, env["ohe"], tmp_path / "attr.npz", batch_size=2, dense_path=tmp_path / "d.npz")
    assert info.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is before  # handler restored
    assert sorted(os.listdir(tmp_path)) == ["attr.npz"] and (tmp_path / "attr.npz").read_bytes() == OLD


def test_finite_json_makes_strict_json_of_nan_inf_and_numpy_scalars():
    from sparselrp.io.jsonfile import finite_json

    value = {"a": float("nan"), 3: (np.float32(1.5), np.int64(2), float("-inf")),
             "b": [{"c": np.float64("inf"), "d": "x", "e": None, "f": True}]}
    out = finite_json(value)
    assert out == {"a": None, "3": [1.5, 2, None], "b": [{"c": None, "d": "x", "e": None, "f": True}]}
    assert type(out["3"][1]) is int
    json.dumps(out, allow_nan=False)  # strict JSON: raises on any NaN or inf left
