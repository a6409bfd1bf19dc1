"""Sequence logos: logo matrices, the crop rule, glyph layout, rendering and files."""

import base64
import os
import io
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparselrp.plot import logos as L
from sparselrp.plot.layers import plot_layer_sparsity

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def random_pair(rng, length, n_frac=0.1, dense=True):
    """One-hot (4, L) with some N columns, and a map (dense over 4 rows, or on the observed base)."""
    idx = rng.integers(0, 4, length)
    X = np.eye(4)[idx].T
    X[:, rng.random(length) < n_frac] = 0.0
    R = rng.normal(size=(4, length))
    if not dense:
        R = R * X
    return X, R


def matrix_reference(X, R):
    """Slow, obviously correct logo matrix."""
    L_ = X.shape[1]
    M = np.zeros((L_, 4))
    for l in range(L_):
        total = sum(R[k, l] for k in range(4))
        if X[:, l].sum() == 0:
            for b in range(4):
                M[l, b] = total / 4
        else:
            M[l, int(np.argmax(X[:, l]))] = total
    return M


# ----------------------------------------------------------------------------- attribution_matrix


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 60), seed=st.integers(0, 2**31 - 1), dense=st.booleans())
def test_attribution_matrix_matches_reference(length, seed, dense):
    rng = np.random.default_rng(seed)
    X, R = random_pair(rng, length, dense=dense)
    M = L.attribution_matrix(X, R)
    assert M.shape == (length, 4)
    np.testing.assert_allclose(M, matrix_reference(X, R), atol=1e-12)
    # the letter heights sum to the per-position relevance
    np.testing.assert_allclose(M.sum(axis=1), R.sum(axis=0), atol=1e-12)
    # at an observed position only the observed base has a height
    observed = X.sum(axis=0) > 0
    off = (M != 0) & (X.T == 0)
    assert not off[observed].any()


def test_attribution_matrix_accepts_torch_and_batch_of_one():
    X = torch.tensor(np.eye(4)[[0, 1, 2, 3, 0]].T, dtype=torch.float32)
    R = torch.arange(20, dtype=torch.float32).reshape(4, 5) - 10
    M = L.attribution_matrix(X[None], R[None])
    np.testing.assert_allclose(M.sum(axis=1), R.sum(0).numpy())
    assert M[0, 0] == pytest.approx(float(R[:, 0].sum()))


@pytest.mark.parametrize("Xs,Rs", [((4, 5), (4, 6)), ((3, 5), (3, 5)), ((2, 4, 5), (2, 4, 5))])
def test_attribution_matrix_rejects_bad_shapes(Xs, Rs):
    with pytest.raises(ValueError, match="shape"):
        L.attribution_matrix(np.zeros(Xs), np.zeros(Rs))


def test_attribution_matrix_rejects_nan():
    R = np.zeros((4, 3))
    R[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        L.attribution_matrix(np.eye(4)[[0, 1, 2]].T, R)


# ----------------------------------------------------------------------------- crop rule


def crop_reference(r, width):
    """Brute force over every window: max |r| mass, then nearest centre to the centroid of the
    union of best windows, then leftmost."""
    a = np.abs(np.asarray(r, dtype=float))
    n = a.size
    if width >= n:
        return 0, n
    masses = [a[s:s + width].sum() for s in range(n - width + 1)]
    best = max(masses)
    if best <= 0:
        s = (n - width) // 2
        return s, s + width
    cand = [s for s, m in enumerate(masses) if m >= best - 1e-9 * best]
    covered = set()
    for s in cand:
        covered.update(range(s, s + width))
    pos = sorted(covered)
    centre = sum(p * a[p] for p in pos) / sum(a[p] for p in pos)
    dists = [abs(s + (width - 1) / 2 - centre) for s in cand]
    s = cand[min(range(len(cand)), key=lambda k: (dists[k] > min(dists) + 1e-9, k))]
    return s, s + width


@settings(max_examples=80, deadline=None)
@given(length=st.integers(1, 120), width=st.integers(1, 60), seed=st.integers(0, 2**31 - 1),
       sparsity=st.floats(0.0, 1.0))
def test_crop_window_matches_brute_force(length, width, seed, sparsity):
    rng = np.random.default_rng(seed)
    r = rng.normal(size=length) * (rng.random(length) >= sparsity)
    start, stop = L.crop_window(r, width)
    assert stop - start == min(width, length)
    assert 0 <= start and stop <= length
    assert (start, stop) == crop_reference(r, width)


def test_crop_centres_a_short_run_with_equal_margins():
    r = np.zeros(1000)
    r[600:620] = 1.0
    start, stop = L.crop_window(r, 80)
    assert (start, stop) == (570, 650)  # 30 positions either side of the run
    # a run at the sequence edge is kept, window pushed inside the sequence
    r = np.zeros(1000)
    r[2:10] = -3.0
    assert L.crop_window(r, 80) == (0, 80)


def test_crop_keeps_short_sequences_and_centres_empty_maps():
    assert L.crop_window(np.ones(50), 80) == (0, 50)
    assert L.crop_window(np.ones(50), None) == (0, 50)
    assert L.crop_window(np.zeros(100), 20) == (40, 60)
    with pytest.raises(ValueError):
        L.crop_window(np.ones(10), 0)


def test_crop_picks_the_heavier_of_two_runs():
    r = np.zeros(500)
    r[50:60] = 1.0
    r[400:410] = -2.0  # negative relevance counts by magnitude
    start, stop = L.crop_window(r, 40)
    assert start <= 400 and 410 <= stop


# ----------------------------------------------------------------------------- glyph layout


@settings(max_examples=60, deadline=None)
@given(length=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_glyph_heights_sum_to_the_logo_matrix(length, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(length, 4)) * (rng.random((length, 4)) < 0.6)
    g = L.logo_glyphs(M)
    heights = g["ceiling"] - g["floor"]
    assert np.all(heights > 0)
    np.testing.assert_allclose(heights, np.abs(M[g["pos"], g["base"]]))
    signed = np.where(g["flip"], -heights, heights)
    per_pos = np.bincount(g["pos"], weights=signed, minlength=length)
    np.testing.assert_allclose(per_pos, M.sum(axis=1), atol=1e-12)
    # positives stack upward from 0 without gaps or overlaps, negatives downward
    for p in range(length):
        up = np.sort(g["floor"][(g["pos"] == p) & ~g["flip"]])
        top = np.sort(g["ceiling"][(g["pos"] == p) & ~g["flip"]])
        if up.size:
            assert up[0] == 0 and np.allclose(up[1:], top[:-1])
        down = np.sort(g["ceiling"][(g["pos"] == p) & g["flip"]])[::-1]
        bottom = np.sort(g["floor"][(g["pos"] == p) & g["flip"]])[::-1]
        if down.size:
            assert down[0] == 0 and np.allclose(down[1:], bottom[:-1])
    assert g["pos"].size == np.count_nonzero(M)


def test_glyph_layout_matches_logomaker():
    """Our stacking (largest on top, largest magnitude at the bottom) is logomaker's."""
    import logomaker
    import pandas as pd
    from matplotlib.figure import Figure

    rng = np.random.default_rng(3)
    M = rng.normal(size=(6, 4)) * (rng.random((6, 4)) < 0.7)
    g = L.logo_glyphs(M)
    ax = Figure().subplots()
    logo = logomaker.Logo(pd.DataFrame(M, columns=list("ACGT")), ax=ax, flip_below=True)
    for p, b, lo, hi, flip in zip(g["pos"], g["base"], g["floor"], g["ceiling"], g["flip"]):
        glyph = logo.glyph_df.loc[p, "ACGT"[b]]
        assert glyph.floor == pytest.approx(lo) and glyph.ceiling == pytest.approx(hi)
        assert bool(glyph.flip) == bool(flip)


def test_drawn_letters_span_their_glyph_boxes():
    """The fast renderer draws each letter exactly over [floor, ceiling] at its position."""
    from matplotlib.figure import Figure

    M = np.zeros((3, 4))
    M[0, 0], M[1, 2], M[2, 3] = 1.5, -0.7, 0.2
    ax = Figure().subplots()
    L.draw_logo(ax, M, x0=10, letter_width=0.8)
    boxes = {}
    for patch in ax.patches:
        ext = patch.get_path().get_extents()
        boxes[tuple(np.round(patch.get_facecolor()[:3], 3))] = ext
    a = boxes[L.COLORS["A"]]
    assert (a.y0, a.y1) == pytest.approx((0.0, 1.5)) and (a.x0, a.x1) == pytest.approx((9.6, 10.4))
    gbox = boxes[tuple(round(c, 3) for c in L.COLORS["G"])]
    assert (gbox.y0, gbox.y1) == pytest.approx((-0.7, 0.0)) and (gbox.x0 + gbox.x1) / 2 == pytest.approx(11)
    t = boxes[L.COLORS["T"]]
    assert (t.y0, t.y1) == pytest.approx((0.0, 0.2))
    assert ax.get_xlim() == pytest.approx((9.5, 12.5))


# ----------------------------------------------------------------------------- motif matrices


def test_information_matrix():
    pwm = np.array([[1.0, 0.25, 0.5], [0.0, 0.25, 0.5], [0.0, 0.25, 0.0], [0.0, 0.25, 0.0]])
    M = L.information_matrix(pwm)
    assert M.shape == (3, 4)
    np.testing.assert_allclose(M[0], [2.0, 0, 0, 0])
    np.testing.assert_allclose(M[1], 0.0)
    np.testing.assert_allclose(M[2], [0.5, 0.5, 0, 0])  # 1 bit shared by A and C
    # counts are normalised; an all-zero column is uniform (no information)
    np.testing.assert_allclose(L.information_matrix(pwm * 7), M)
    assert np.all(L.information_matrix(np.zeros((4, 2))) == 0)


def test_information_matrix_matches_logomaker():
    import logomaker
    import pandas as pd

    rng = np.random.default_rng(1)
    pwm = rng.dirichlet(np.ones(4) * 0.5, size=8).T
    ours = L.information_matrix(pwm)
    ref = logomaker.transform_matrix(pd.DataFrame(pwm.T, columns=list("ACGT")), from_type="probability",
                                     to_type="information")
    np.testing.assert_allclose(ours, ref.values, atol=1e-6)


# ----------------------------------------------------------------------------- rendering and files


def motif_standin(hcwm=True):
    rng = np.random.default_rng(0)
    pwm = rng.dirichlet(np.ones(4), size=10).T
    return SimpleNamespace(name="motif<1>", pwm=pwm, cwm=pwm - 0.25, hcwm=(pwm - 0.2) if hcwm else None,
                           support=12, matches=[])


def check_png(data):
    assert data[:8] == PNG_MAGIC
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    img.load()
    assert img.size[0] > 50 and img.size[1] > 20
    return img


def check_svg(data):
    root = ET.fromstring(data)
    assert root.tag.endswith("svg")
    assert b"<path" in data


@pytest.mark.parametrize("engine", ["fast", "logomaker"])
def test_attribution_logo_png_and_svg(tmp_path, engine):
    rng = np.random.default_rng(0)
    X, R = random_pair(rng, 300, dense=False)
    fig = L.plot_attribution_logo(X, R, title="seq <1>", engine=engine)
    L.save_figure(fig, tmp_path / "a.png")
    L.save_figure(fig, tmp_path / "a.svg")
    check_png((tmp_path / "a.png").read_bytes())
    check_svg((tmp_path / "a.svg").read_bytes())
    ax = fig.axes[0]
    start, stop = L.crop_window(R.sum(0), L.DEFAULT_CROP)
    assert ax.get_xlim() == pytest.approx((start - 0.5, stop - 0.5))
    assert sorted(os.listdir(tmp_path)) == ["a.png", "a.svg"]  # no temporary files left


def test_attribution_logo_crop_options():
    X, R = random_pair(np.random.default_rng(1), 200)
    assert L.plot_attribution_logo(X, R, crop=None).axes[0].get_xlim() == pytest.approx((-0.5, 199.5))
    assert L.plot_attribution_logo(X, R, crop=(10, 30)).axes[0].get_xlim() == pytest.approx((9.5, 29.5))
    with pytest.raises(ValueError, match="outside"):
        L.plot_attribution_logo(X, R, crop=(150, 250))
    with pytest.raises(ValueError, match="engine"):
        L.plot_attribution_logo(X, R, engine="nope")


def test_lrp_comparison_shares_one_window():
    rng = np.random.default_rng(2)
    X, R_dense = random_pair(rng, 500, dense=False)
    R_pruned = np.zeros_like(R_dense)
    R_pruned[:, 300:310] = R_dense[:, 300:310]
    fig = L.plot_lrp_comparison(X, R_dense, R_pruned, title="pair")
    top, bottom = fig.axes
    assert top.get_xlim() == bottom.get_xlim()
    lo, hi = top.get_xlim()
    assert lo < 300 and hi > 309 and hi - lo == pytest.approx(L.DEFAULT_CROP)
    assert [top.get_title(loc="left"), bottom.get_title(loc="left")] == ["LRP", "pruned LRP"]
    check_png(base64.b64decode(L.figure_to_data_uri(fig).split(",", 1)[1]))


def test_motif_logos(tmp_path):
    m = motif_standin()
    for kind, engine in (("pwm", "logomaker"), ("cwm", "fast"), ("hcwm", "fast")):
        fig = L.plot_motif_logo(m, kind, engine=engine)
        L.save_figure(fig, tmp_path / f"{kind}.png")
        check_png((tmp_path / f"{kind}.png").read_bytes())
        if kind == "pwm":
            assert fig.axes[0].get_ylim() == (0, 2)
    assert len(L.plot_motif(m).axes) == 3
    assert len(L.plot_motif(motif_standin(hcwm=False)).axes) == 2
    with pytest.raises(ValueError, match="no hcwm"):
        L.plot_motif_logo(motif_standin(hcwm=False), "hcwm")
    # a bare matrix works too
    L.plot_motif_logo(m.cwm, "cwm")


def test_figure_to_data_uri_formats():
    fig = L.plot_attribution_logo(*random_pair(np.random.default_rng(0), 40))
    png = L.figure_to_data_uri(fig)
    assert png.startswith("data:image/png;base64,")
    check_png(base64.b64decode(png.split(",", 1)[1]))
    svg = L.figure_to_data_uri(fig, "svg")
    assert svg.startswith("data:image/svg+xml;base64,")
    check_svg(base64.b64decode(svg.split(",", 1)[1]))
    with pytest.raises(ValueError):
        L.figure_to_data_uri(fig, "gif")


def test_save_figure_errors(tmp_path):
    fig = L.plot_attribution_logo(*random_pair(np.random.default_rng(0), 40))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        L.save_figure(fig, tmp_path / "missing" / "a.png")
    with pytest.raises(ValueError, match="unsupported"):
        L.save_figure(fig, tmp_path / "a.gif")


def test_write_attribution_logos_reuses_figure_without_residue(tmp_path):
    rng = np.random.default_rng(5)
    pairs = [random_pair(rng, 300, dense=False) for _ in range(3)]
    X = np.stack([p[0] for p in pairs])
    R = np.stack([p[1] for p in pairs])
    paths = L.write_attribution_logos(X, R, tmp_path / "all", names=["s", "s", "s/x"])
    assert [p.name for p in paths] == ["0000_s.png", "0001_s.png", "0002_s_x.png"]
    for p in paths:
        check_png(p.read_bytes())
    # the last logo drawn on the reused figure equals the same logo drawn alone
    alone = L.write_attribution_logos(X[2:], R[2:], tmp_path / "one", names=["s/x"])
    assert alone[0].read_bytes() == paths[2].read_bytes()
    # pairs with the dense map, SVG
    svgs = L.write_attribution_logos(X, R, tmp_path / "svg", fmt="svg", R_dense=R + 0.1 * X)
    assert len(svgs) == 3
    for p in svgs:
        check_svg(p.read_bytes())
    with pytest.raises(ValueError, match="names"):
        L.write_attribution_logos(X, R, tmp_path / "bad", names=["a"])
    with pytest.raises(ValueError, match="shape"):
        L.write_attribution_logos(X, R[:, :, :10], tmp_path / "bad")


def test_layer_sparsity_plot_bars_equal_values():
    values = {"conv1": 0.25, "conv2": 0.5, "dense": 0.875}
    fig = plot_layer_sparsity(values)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx(list(values.values()))
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == list(values)
    fig = plot_layer_sparsity({"a": {"zeros": 0.1, "gini": 0.2}, "b": {"zeros": 0.3, "gini": float("nan")}})
    assert sorted(p.get_height() for p in fig.axes[0].patches) == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        plot_layer_sparsity({})


def test_logo_speed_benchmark_runs(monkeypatch, capsys):
    import importlib.util

    script = ROOT / "benchmarks" / "logo_speed.py"
    spec = importlib.util.spec_from_file_location("logo_speed", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["logo_speed.py", "--n", "3", "--quick"])
    bench.main()
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["logos", "length"] and len(lines) == 2
    assert int(lines[1].split()[0]) == 3 and float(lines[1].split()[-2]) > 0
