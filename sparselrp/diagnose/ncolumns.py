"""Relevance on N columns, padded positions and absent bases.

An N base is an all-zero one-hot column (or 0.25 per base with ``n_value=0.25``: any
column that is not exactly one-hot counts); sequences padded to a common length carry
runs of such columns at their ends ("padded positions"). First-layer rules that
multiply by the input (LRP-0, epsilon, gamma, z+, alpha-beta) give every zero entry
exactly zero relevance; zB, flat and w-square do not look at the input value and give
relevance to absent bases and N columns by design. The check reports, per sample:

* ``n_share``: share of ``|r|`` (per-position sums) on interior N columns;
* ``pad_share``: share on all-zero runs touching either end (padding);
* ``absent_share``: share of the absolute entries of ``R`` (N, 4, L) on absent bases
  (zeros of X inside observed columns);

with the name of each first-layer rule. The flagged figure is the mean of
``n_share + pad_share`` over samples.
"""

import numpy as np

from ._common import make_check, nanmean, per_position, to_np


def zero_columns(X):
    """Masks of N columns.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot.

    Returns
    -------
    interior, padded : numpy.ndarray of bool
        ``(N, L)``: N columns (any column that is not exactly one-hot: all-zero, or
        0.25 per base as ``n_value=0.25`` encodes it) inside the sequence, and those in
        a run that touches either end.
    """
    x = to_np(X)
    # not exactly one-hot: all-zero N columns, 0.25-valued N columns, padding
    z = ~(((x == 1).sum(axis=1) == 1) & (x.sum(axis=1) == 1))   # (N, L)
    # a zero column belongs to a run touching the left end iff all columns before it are zero
    left = np.cumprod(z, axis=1).astype(bool)
    right = np.cumprod(z[:, ::-1], axis=1)[:, ::-1].astype(bool)
    padded = left | right
    return z & ~padded, padded


def ncolumn_figures(X, R):
    """Per-sample relevance shares on N columns, padding and absent bases.

    Parameters
    ----------
    X, R : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot input and its relevance.

    Returns
    -------
    dict
        ``n_share``, ``pad_share``, ``absent_share`` (N,) (NaN for an all-zero map);
        ``n_columns``, ``pad_columns`` (N,) counts.
    """
    interior, padded = zero_columns(X)
    a = np.abs(per_position(R))
    tot = a.sum(axis=1)
    x = to_np(X)
    Ra = np.abs(to_np(R))
    observed = ~(interior | padded)[:, None, :]
    absent = (x == 0) & observed
    tot_e = Ra.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        n_share = np.where(tot > 0, (a * interior).sum(axis=1) / tot, np.nan)
        pad_share = np.where(tot > 0, (a * padded).sum(axis=1) / tot, np.nan)
        absent_share = np.where(tot_e > 0, (Ra * absent).sum(axis=(1, 2)) / tot_e, np.nan)
    return {"n_share": n_share, "pad_share": pad_share, "absent_share": absent_share,
            "n_columns": interior.sum(axis=1), "pad_columns": padded.sum(axis=1)}


def ncolumn_check(fig, first_rules, thresholds):
    """The "n-columns" check.

    Parameters
    ----------
    fig : dict
        From :func:`ncolumn_figures`.
    first_rules : dict
        ``{first layer name: (rule repr, multiplies_input)}``.
    """
    v = nanmean(fig["n_share"] + fig["pad_share"])
    n_cols = int(np.sum(fig["n_columns"]))
    pad_cols = int(np.sum(fig["pad_columns"]))
    rules = ", ".join(f"{k}: {r}" for k, (r, _) in first_rules.items()) or "none"
    mult = all(m for _, m in first_rules.values()) if first_rules else True
    details = {
        "first_layer_rules": {k: r for k, (r, _) in first_rules.items()},
        "rule_multiplies_input": mult,
        "n_columns": n_cols,
        "padded_columns": pad_cols,
        "mean_n_share": nanmean(fig["n_share"]),
        "mean_pad_share": nanmean(fig["pad_share"]),
        "mean_absent_base_share": nanmean(fig["absent_share"]),
    }
    if n_cols + pad_cols == 0:
        where = "The input holds no N or padded columns"
    else:
        where = (f"{n_cols} N columns and {pad_cols} padded positions hold "
                 f"{100 * v:.1f} % of |relevance|" if np.isfinite(v) else "")
    how = (f"the first-layer rule ({rules}) multiplies by the input, so all-zero N columns get exactly zero"
           + ("" if not (np.isfinite(v) and v > 0) else
              "; these N columns are not all-zero (e.g. 0.25 per base), so they do get relevance")
           if mult else
           f"the first-layer rule ({rules}) ignores the input value and gives relevance to absent "
           f"bases ({100 * details['mean_absent_base_share']:.0f} % of |R|) and N columns by design")
    return make_check(
        "n-columns", "share on N/padding", "n_column_share", v, thresholds,
        ok_text=f"{where}; {how}.",
        bad_text=f"{where}; {how}. That relevance says nothing about the sequence itself.",
        na_text="All maps are zero; the share is undefined.",
        details=details)
