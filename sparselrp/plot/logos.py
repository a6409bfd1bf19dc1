"""Sequence logos: attribution logos, motif logos (PWM information content, CWM), and
LRP against pruned LRP side by side.

Attribution logos
-----------------
The height of the letter at a position is that position's relevance summed over the
four rows of the map (``r_l = R[:, l].sum()``), drawn on the observed base; negative
relevance is drawn below the axis with the letter upside down. An N position (an
all-zero one-hot column) has no observed base: its relevance, if any (rules such as
flat, w-square and zB give relevance to N columns), is split equally over the four
letters, stacked, so that the drawn height still equals the position's sum.

Crop rule
---------
A window longer than ``width`` positions (default 80) is cropped to ``width``
positions: among all windows of that width, those holding the largest relevance
mass ``sum |r_l|`` are the candidates (a sparse map usually has many, all containing
its relevant run); of these the one whose centre lies nearest the ``|r|``-weighted
centre of the positions the candidates cover is chosen (ties: the leftmost). The
relevant run thus sits in the middle with equal margins. An all-zero map is cropped
to the middle of the sequence. See :func:`crop_window`.

Speed
-----
logomaker builds one matplotlib patch per letter and matrix cell (4 per position,
zeros included), which makes hundreds of long logos take minutes. Attribution logos
are therefore drawn by a small vectorised renderer (:func:`draw_logo`) that lays
out the same stacked glyphs (logomaker's classic colours, bold sans-serif letters,
upside down below the axis) as one compound path per letter; motif logos, which are
short, use logomaker itself. Both engines are available for attribution logos
(``engine="fast"`` or ``"logomaker"``). Figures are plain
:class:`matplotlib.figure.Figure` objects (no pyplot state, Agg canvas), so nothing
needs closing and nothing depends on the interactive backend.
"""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path

import numpy as np

BASES = "ACGT"
#: logomaker's "classic" colour scheme.
COLORS = {"A": (0.0, 0.5, 0.0), "C": (0.0, 0.0, 1.0), "G": (1.0, 0.65, 0.0), "T": (1.0, 0.0, 0.0)}
DEFAULT_CROP = 80

__all__ = [
    "attribution_matrix",
    "position_relevance",
    "crop_window",
    "logo_glyphs",
    "draw_logo",
    "information_matrix",
    "plot_attribution_logo",
    "plot_lrp_comparison",
    "plot_motif_logo",
    "plot_motif",
    "save_figure",
    "figure_to_data_uri",
    "write_attribution_logos",
]


# ----------------------------------------------------------------------------- inputs


def _as_array(a, name, ndim=2, rows=4):
    """Return ``a`` (numpy array or torch tensor) as a float64 numpy array, checked."""
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == ndim + 1 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != ndim or (rows is not None and a.shape[0] != rows):
        raise ValueError(f"{name} must have shape (4, L); got {tuple(a.shape)}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_pair(X, R):
    X = _as_array(X, "X")
    R = _as_array(R, "R")
    if X.shape != R.shape:
        raise ValueError(f"X and R must have the same shape; got {X.shape} and {R.shape}")
    return X, R


def position_relevance(R):
    """Per-position relevance: the sum over the four rows.

    Parameters
    ----------
    R : numpy.ndarray or torch.Tensor, shape (4, L)
        Attribution map of one sequence.

    Returns
    -------
    numpy.ndarray, shape (L,)
        ``R.sum(axis=0)`` as float64.
    """
    return _as_array(R, "R").sum(axis=0)


def attribution_matrix(X, R):
    """The logo matrix of an attribution map: each position's relevance on its base.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape (4, L)
        One-hot sequence, rows A, C, G, T; an all-zero column is an N.
    R : numpy.ndarray or torch.Tensor, shape (4, L)
        Attribution map of the same sequence.

    Returns
    -------
    numpy.ndarray, shape (L, 4)
        ``M[l, b] = sum_k R[k, l]`` where ``b`` is the observed base at ``l`` and 0
        for the other three bases. At an N column the sum is split equally over the
        four bases. Either way ``M.sum(axis=1) == R.sum(axis=0)``.
    """
    X, R = _check_pair(X, R)
    r = R.sum(axis=0)
    observed = X.max(axis=0) > 0
    base = X.argmax(axis=0)
    L = X.shape[1]
    M = np.zeros((L, 4))
    M[np.arange(L)[observed], base[observed]] = r[observed]
    M[~observed] = r[~observed, None] / 4.0
    return M


def crop_window(r, width=DEFAULT_CROP):
    """The window an attribution logo shows (see the module's crop rule).

    Parameters
    ----------
    r : array-like, shape (L,)
        Per-position relevance.
    width : int or None
        Window width; ``None`` or ``width >= L`` keeps the whole sequence.

    Returns
    -------
    (int, int)
        ``(start, stop)`` with ``stop - start == min(width, L)``.
    """
    a = np.abs(np.asarray(r, dtype=np.float64).ravel())
    L = a.size
    if width is None or width >= L:
        return 0, L
    width = int(width)
    if width < 1:
        raise ValueError(f"crop width must be >= 1; got {width}")
    csum = np.concatenate([[0.0], np.cumsum(a)])
    mass = csum[width:] - csum[:-width]  # (L - width + 1,)
    best = mass.max()
    if best <= 0:
        start = (L - width) // 2
        return start, start + width
    tol = 1e-9 * best
    cand = np.flatnonzero(mass >= best - tol)
    diff = np.zeros(L + 1)
    np.add.at(diff, cand, 1.0)
    np.add.at(diff, cand + width, -1.0)
    covered = np.cumsum(diff)[:L] > 0  # union of the candidate windows
    w = np.where(covered, a, 0.0)
    centre = (w * np.arange(L)).sum() / w.sum()
    dist = np.abs(cand + (width - 1) / 2.0 - centre)
    start = int(cand[np.flatnonzero(dist <= dist.min() + 1e-9)[0]])
    return start, start + width


# ----------------------------------------------------------------------------- glyphs


def logo_glyphs(M):
    """Lay out the stacked glyphs of a logo matrix.

    Positive values stack upward from 0 (largest on top), negative values stack
    downward from 0 (largest magnitude at the bottom), zeros are left out.

    Parameters
    ----------
    M : array-like, shape (L, 4)
        Logo matrix, columns A, C, G, T.

    Returns
    -------
    dict of numpy.ndarray, each of shape (G,)
        ``pos`` (row index), ``base`` (column index 0..3), ``floor`` and ``ceiling``
        (``ceiling - floor == |M[pos, base]|``), ``flip`` (True below the axis).
    """
    M = np.asarray(M, dtype=np.float64)
    L = M.shape[0]
    pos_part = np.where(M > 0, M, 0.0)
    neg_part = np.where(M < 0, -M, 0.0)
    # positive: ascending order from the axis up -> largest on top
    order_p = np.argsort(pos_part, axis=1, kind="stable")
    sorted_p = np.take_along_axis(pos_part, order_p, axis=1)
    top_p = np.cumsum(sorted_p, axis=1)
    # negative: smallest magnitude next to the axis -> largest at the bottom
    order_n = np.argsort(neg_part, axis=1, kind="stable")
    sorted_n = np.take_along_axis(neg_part, order_n, axis=1)
    bot_n = -np.cumsum(sorted_n, axis=1)
    rows = np.repeat(np.arange(L)[:, None], 4, axis=1)
    keep_p = sorted_p > 0
    keep_n = sorted_n > 0
    return {
        "pos": np.concatenate([rows[keep_p], rows[keep_n]]),
        "base": np.concatenate([order_p[keep_p], order_n[keep_n]]),
        "floor": np.concatenate([(top_p - sorted_p)[keep_p], bot_n[keep_n]]),
        "ceiling": np.concatenate([top_p[keep_p], (bot_n + sorted_n)[keep_n]]),
        "flip": np.concatenate([np.zeros(keep_p.sum(), bool), np.ones(keep_n.sum(), bool)]),
    }


@functools.lru_cache(maxsize=None)
def _unit_glyph(letter):
    """Vertices (K, 2) scaled to the unit square and path codes (K,) of a letter."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath

    path = TextPath((0, 0), letter, size=1, prop=FontProperties(family="sans-serif", weight="bold"))
    v = np.asarray(path.vertices, dtype=np.float64)
    ext = path.get_extents()  # of the curves, not of their control points
    lo, hi = np.array([ext.x0, ext.y0]), np.array([ext.x1, ext.y1])
    v = (v - lo) / (hi - lo)
    codes = np.asarray(path.codes, dtype=np.uint8)
    return v, codes


def draw_logo(ax, M, x0=0, letter_width=0.9, colors=None, baseline=True):
    """Draw a logo matrix on ``ax`` with one compound path per letter (fast).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Target axes (its limits are set to fit the logo).
    M : array-like, shape (L, 4)
        Logo matrix, columns A, C, G, T (see :func:`logo_glyphs`).
    x0 : int
        x coordinate of the first row (e.g. the crop start, so ticks show
        sequence positions).
    letter_width : float
        Glyph width in positions.
    colors : dict, optional
        Letter -> colour; logomaker's classic scheme by default.
    baseline : bool
        Draw a thin line at y = 0.

    Returns
    -------
    dict
        The glyph layout from :func:`logo_glyphs` (positions shifted by ``x0``).
    """
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    colors = COLORS if colors is None else colors
    M = np.asarray(M, dtype=np.float64)
    g = logo_glyphs(M)
    g["pos"] = g["pos"] + x0
    for b, letter in enumerate(BASES):
        sel = g["base"] == b
        if not sel.any():
            continue
        v, codes = _unit_glyph(letter)
        x_left = g["pos"][sel] - letter_width / 2.0
        floor, ceil = g["floor"][sel], g["ceiling"][sel]
        vy = np.where(g["flip"][sel][:, None], 1.0 - v[None, :, 1], v[None, :, 1])
        xs = x_left[:, None] + letter_width * v[None, :, 0]
        ys = floor[:, None] + (ceil - floor)[:, None] * vy
        verts = np.stack([xs, ys], axis=-1).reshape(-1, 2)
        allcodes = np.tile(codes, int(sel.sum()))
        # add_artist, not add_patch: no autoscaling over the bezier extrema of a big compound path
        ax.add_artist(PathPatch(MplPath(verts, allcodes), facecolor=colors[letter], edgecolor="none", lw=0))
    L = M.shape[0]
    ax.set_xlim(x0 - 0.5, x0 + L - 0.5)
    lo = min(0.0, float(g["floor"].min())) if g["floor"].size else 0.0
    hi = max(0.0, float(g["ceiling"].max())) if g["ceiling"].size else 0.0
    if hi == lo:
        hi, lo = 1.0, (-1.0 if lo < 0 else 0.0)
    pad = 0.05 * (hi - lo)
    ax.set_ylim(lo - (pad if lo < 0 else 0.0), hi + pad)
    if baseline:
        ax.axhline(0.0, color="black", lw=0.6, zorder=0)
    return g


def _style_axes(ax, ylabel=None, title=None):
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=7, length=2)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=9, loc="left")


def _new_figure(width, height, nrows=1, suptitle=False):
    """A Figure with ``nrows`` stacked axes and fixed margins in inches.

    Fixed margins instead of a layout engine: constrained layout measures every
    tick label on every draw and doubles the cost of a small logo.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    top_in, bottom_in, gap_in = 0.22 + (0.2 if suptitle else 0.0), 0.28, 0.5
    axes_in = max(0.3, (height - top_in - bottom_in - (nrows - 1) * gap_in) / nrows)
    fig.subplots_adjust(left=min(0.45, 0.62 / width), right=1 - min(0.1, 0.08 / width),
                        bottom=bottom_in / height, top=1 - top_in / height, hspace=gap_in / axes_in)
    axes = fig.subplots(nrows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _logo_size(width_positions, nrows=1):
    return max(3.0, 0.09 * width_positions + 0.8), 1.3 * nrows + (0.55 if nrows > 1 else 0.0)


def _clear_axes(ax):
    """Remove what a logo drew, keeping the axes (and its ticks) for reuse."""
    for artist in list(ax.patches) + list(ax.lines) + list(ax.artists) + list(ax.collections):
        artist.remove()
    ax.set_title("", loc="left")


def _resolve_crop(r, crop):
    if crop is None or crop is False:
        return 0, r.size
    if crop is True:
        return crop_window(r, DEFAULT_CROP)
    if isinstance(crop, (tuple, list)):
        start, stop = int(crop[0]), int(crop[1])
        if not 0 <= start < stop <= r.size:
            raise ValueError(f"crop window {crop} is outside the sequence (length {r.size})")
        return start, stop
    return crop_window(r, int(crop))


def _draw_attribution(ax, M, start, stop, engine):
    sub = M[start:stop]
    if engine == "fast":
        draw_logo(ax, sub, x0=start)
    elif engine == "logomaker":
        import logomaker
        import pandas as pd

        df = pd.DataFrame(sub, columns=list(BASES), index=np.arange(start, stop))
        logomaker.Logo(df, ax=ax, color_scheme="classic", flip_below=True, font_name="sans", width=0.9)
        ax.set_xlim(start - 0.5, stop - 0.5)  # the same frame as the fast engine
    else:
        raise ValueError(f"engine must be 'fast' or 'logomaker'; got {engine!r}")


def plot_attribution_logo(X, R, crop=DEFAULT_CROP, title=None, ax=None, figsize=None,
                          engine="fast", ylabel="relevance"):
    """Attribution logo of one sequence.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape (4, L)
        One-hot sequence.
    R : numpy.ndarray or torch.Tensor, shape (4, L)
        Its attribution map.
    crop : int, (start, stop), True, None or False
        Window width for the crop rule (see :func:`crop_window`), an explicit
        ``(start, stop)`` window, ``True`` for the default width, or None/False
        for the whole sequence.
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Draw into these axes instead of a new figure.
    figsize : (float, float), optional
        Figure size in inches (default scales with the window width).
    engine : {"fast", "logomaker"}
        Glyph renderer (see the module notes).
    ylabel : str
        y-axis label.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the logo (``ax.figure`` when ``ax`` is given).
    """
    M = attribution_matrix(X, R)
    start, stop = _resolve_crop(M.sum(axis=1), crop)
    if ax is None:
        fig, (ax,) = _new_figure(*(figsize or _logo_size(stop - start)))
    else:
        fig = ax.figure
    _draw_attribution(ax, M, start, stop, engine)
    _style_axes(ax, ylabel, title)
    return fig


def plot_lrp_comparison(X, R_dense, R_pruned, crop=DEFAULT_CROP, title=None, figsize=None,
                        engine="fast", labels=("LRP", "pruned LRP"), axes=None):
    """LRP and pruned LRP of the same sequence as two stacked logos.

    Both logos show the same window, chosen by the crop rule on the pruned map
    (the sparser one); each has its own y scale.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape (4, L)
        One-hot sequence.
    R_dense, R_pruned : numpy.ndarray or torch.Tensor, shape (4, L)
        Unpruned and pruned attribution maps.
    crop, engine
        As in :func:`plot_attribution_logo`.
    title : str, optional
        Figure title.
    figsize : (float, float), optional
        Figure size in inches.
    labels : (str, str)
        Titles of the upper (dense) and lower (pruned) logo.
    axes : (Axes, Axes), optional
        Draw into these two axes (of one figure) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    X, R_dense = _check_pair(X, R_dense)
    _, R_pruned = _check_pair(X, R_pruned)
    M_d = attribution_matrix(X, R_dense)
    M_p = attribution_matrix(X, R_pruned)
    r = M_p.sum(axis=1)
    if not np.any(r):
        r = M_d.sum(axis=1)
    start, stop = _resolve_crop(r, crop)
    if axes is None:
        fig, axes = _new_figure(*(figsize or _logo_size(stop - start, 2)), nrows=2, suptitle=bool(title))
    else:
        fig = axes[0].figure
    for ax, M, label in zip(axes, (M_d, M_p), labels):
        _draw_attribution(ax, M, start, stop, engine)
        _style_axes(ax, "relevance", label)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    return fig


# ----------------------------------------------------------------------------- motifs


def information_matrix(pwm, background=None, pseudocount=0.0):
    """Information-content logo matrix of a position weight matrix.

    Parameters
    ----------
    pwm : array-like, shape (4, W)
        Base probabilities (or counts) per column, rows A, C, G, T. Columns are
        normalised to sum to 1 (an all-zero column becomes uniform).
    background : array-like, shape (4,), optional
        Background base frequencies (uniform by default).
    pseudocount : float
        Added to every entry before normalising.

    Returns
    -------
    numpy.ndarray, shape (W, 4)
        ``p[b, l] * IC_l`` with ``IC_l = sum_b p[b, l] log2(p[b, l] / bg[b])``
        (the relative entropy; at most 2 bits for a uniform background).
    """
    p = _as_array(pwm, "pwm") + float(pseudocount)
    if np.any(p < 0):
        raise ValueError("pwm has negative entries")
    tot = p.sum(axis=0, keepdims=True)
    p = np.where(tot > 0, p / np.where(tot > 0, tot, 1.0), 0.25)
    bg = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    bg = bg / bg.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / bg[:, None]), 0.0)
    ic = np.clip(terms.sum(axis=0), 0.0, None)
    return (p * ic[None, :]).T


def _motif_matrix(motif, kind):
    if kind not in ("pwm", "cwm", "hcwm"):
        raise ValueError(f"kind must be 'pwm', 'cwm' or 'hcwm'; got {kind!r}")
    if isinstance(motif, np.ndarray) or hasattr(motif, "detach") or isinstance(motif, (list, tuple)):
        mat = _as_array(motif, kind)
    else:
        mat = getattr(motif, kind, None)
        if mat is None:
            raise ValueError(f"motif {getattr(motif, 'name', '?')!r} has no {kind}")
        mat = _as_array(mat, f"{kind} of motif {getattr(motif, 'name', '?')!r}")
    if kind == "pwm":
        return information_matrix(mat), "bits"
    return mat.T.copy(), "contribution"


def plot_motif_logo(motif, kind="pwm", title=None, ax=None, figsize=None, engine="logomaker"):
    """Logo of a motif with logomaker: PWM as information content, or CWM/hCWM.

    Parameters
    ----------
    motif : object or array-like
        An object with attributes ``pwm``, ``cwm``, ``hcwm`` (each (4, W) or None)
        and ``name``; or directly a (4, W) matrix of the given ``kind``.
    kind : {"pwm", "cwm", "hcwm"}
        Which matrix to draw. A PWM is drawn as information content (bits, see
        :func:`information_matrix`); a CWM as signed contributions.
    title : str, optional
        Axes title (default: the motif's name and the kind).
    ax : matplotlib.axes.Axes, optional
        Draw into these axes.
    figsize : (float, float), optional
        Figure size in inches.
    engine : {"logomaker", "fast"}
        logomaker itself, or the vectorised renderer (same layout, faster).

    Returns
    -------
    matplotlib.figure.Figure
    """
    M, ylabel = _motif_matrix(motif, kind)
    if ax is None:
        fig, (ax,) = _new_figure(*(figsize or (max(2.0, 0.22 * M.shape[0] + 0.8), 1.4)))
    else:
        fig = ax.figure
    _draw_attribution(ax, M, 0, M.shape[0], engine)
    if kind == "pwm":
        ax.set_ylim(0, 2)
    if title is None and not isinstance(motif, np.ndarray) and hasattr(motif, "name"):
        title = f"{motif.name} ({kind.upper()})"
    _style_axes(ax, ylabel, title)
    return fig


def plot_motif(motif, figsize=None):
    """PWM (information content), CWM and, when present, hCWM logos of one motif, stacked.

    Parameters
    ----------
    motif : object
        With attributes ``name``, ``pwm`` (4, W), ``cwm`` (4, W) and optionally
        ``hcwm`` (4, W) or None.
    figsize : (float, float), optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    kinds = [k for k in ("pwm", "cwm", "hcwm") if getattr(motif, k, None) is not None]
    if not kinds:
        raise ValueError(f"motif {getattr(motif, 'name', '?')!r} has no pwm, cwm or hcwm")
    W = _as_array(getattr(motif, kinds[0]), kinds[0]).shape[1]
    fig, axes = _new_figure(*(figsize or (max(2.5, 0.22 * W + 0.8), 1.4 * len(kinds) + 0.5)), nrows=len(kinds),
                            suptitle=True)
    for ax, kind in zip(axes, kinds):
        plot_motif_logo(motif, kind, ax=ax, title=kind.upper())
    fig.suptitle(str(getattr(motif, "name", "")), fontsize=9, x=0.01, ha="left")
    return fig


# ----------------------------------------------------------------------------- output


def _format_of(path, fmt):
    fmt = (fmt or Path(path).suffix.lstrip(".") or "png").lower()
    if fmt not in ("png", "svg", "pdf"):
        raise ValueError(f"{path}: unsupported figure format {fmt!r} (use png, svg or pdf)")
    return fmt


def save_figure(fig, path, fmt=None, dpi=150):
    """Write a figure atomically (a failed write leaves no partial file).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Output file.
    fmt : {"png", "svg", "pdf"}, optional
        Format; taken from the file suffix by default.
    dpi : int
        Resolution of raster output.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from .._atomic import atomic_open

    fmt = _format_of(path, fmt)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA.get(fmt))
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return Path(path)


# reproducible output: no creation dates or software versions in the files
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def figure_to_data_uri(fig, fmt="png", dpi=110):
    """Encode a figure as a ``data:`` URI for embedding in HTML.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    fmt : {"png", "svg"}
        Image format.
    dpi : int
        Resolution of PNG output.

    Returns
    -------
    str
        ``"data:image/png;base64,..."`` or ``"data:image/svg+xml;base64,..."``.
    """
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt must be 'png' or 'svg'; got {fmt!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    mime = "image/png" if fmt == "png" else "image/svg+xml"
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _safe_name(name, maxlen=60):
    keep = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in str(name))
    return keep.strip("._")[:maxlen] or "seq"


def write_attribution_logos(X, R, out_dir, names=None, fmt="png", R_dense=None, crop=DEFAULT_CROP,
                            dpi=100, progress=False):
    """Write one attribution logo file per sequence.

    Parameters
    ----------
    X : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        One-hot sequences.
    R : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        Attribution maps (pruned LRP, say).
    out_dir : str or Path
        Existing or new directory for the files.
    names : list of str, optional
        Sequence names (file names are ``{i:04d}_{name}.{fmt}``, sanitised).
    fmt : {"png", "svg", "pdf"}
        File format.
    R_dense : numpy.ndarray or torch.Tensor, shape (N, 4, L), optional
        Unpruned maps; when given each file shows LRP and pruned LRP stacked.
    crop : int, tuple, True, None or False
        As in :func:`plot_attribution_logo`.
    dpi : int
        Resolution of PNG output.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of pathlib.Path
        The written files, in input order.
    """
    X = _np3(X, "X")
    R = _np3(R, "R")
    if X.shape != R.shape:
        raise ValueError(f"X and R must have the same shape; got {X.shape} and {R.shape}")
    if R_dense is not None:
        R_dense = _np3(R_dense, "R_dense")
        if R_dense.shape != X.shape:
            raise ValueError(f"R_dense must have X's shape {X.shape}; got {R_dense.shape}")
    n = X.shape[0]
    names = [f"seq{i}" for i in range(n)] if names is None else list(names)
    if len(names) != n:
        raise ValueError(f"{len(names)} names for {n} sequences")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fmt = _format_of(f"x.{fmt}", fmt)
    from tqdm.auto import tqdm

    paths = []
    axes = None  # one figure, cleared and redrawn for every logo (halves the time per logo)
    for i in tqdm(range(n), disable=not progress, desc="logos", unit="logo"):
        title = str(names[i])
        if axes is None:
            width = X.shape[2] if crop is None or crop is False else (
                crop[1] - crop[0] if isinstance(crop, (tuple, list)) else
                min(X.shape[2], DEFAULT_CROP if crop is True else int(crop)))
            nrows = 1 if R_dense is None else 2
            fig, axes = _new_figure(*_logo_size(width, nrows), nrows=nrows, suptitle=nrows > 1)
        else:
            for ax in axes:
                _clear_axes(ax)
        if R_dense is None:
            plot_attribution_logo(X[i], R[i], crop=crop, title=title, ax=axes[0])
        else:
            plot_lrp_comparison(X[i], R_dense[i], R[i], crop=crop, title=title, axes=axes)
        path = out_dir / f"{i:04d}_{_safe_name(names[i])}.{fmt}"
        save_figure(fig, path, fmt=fmt, dpi=dpi)
        paths.append(path)
    return paths


def _np3(a, name):
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4, L); got {tuple(a.shape)}")
    return a
