"""The HTML report: one self-contained file (inline CSS, images as data URIs, no
scripts, no external references) summarising a sparselrp run.

Sections, in order: run parameters; sparsity and conservation summary; per-layer
sparsity; top sequences with their attribution logos (LRP and pruned LRP side by
side when the unpruned map is given); the patterns tfmodisco-lite discovered, positive
and negative apart, with PWM, CWM and hCWM logos, seqlet counts, database matches and
example seqlets; the seqlet table; trust (diagnostics with
plain-language verdicts). A section whose input is missing says so instead of
disappearing, so every report has the same outline.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

import numpy as np

from .logos import DEFAULT_CROP, _check_pair, crop_window, figure_to_data_uri, plot_attribution_logo
from .logos import plot_lrp_comparison, plot_motif_logo

__all__ = ["render_report", "write_report", "summarise_attributions", "motif_examples", "TRUST_EXPLANATIONS"]

SECTIONS = [
    ("parameters", "Run parameters"),
    ("summary", "Sparsity and conservation"),
    ("layers", "Per-layer sparsity"),
    ("sequences", "Top sequences"),
    ("motifs", "Discovered patterns"),
    ("seqlets", "Seqlets"),
    ("trust", "Trust"),
]

#: Plain-language meaning of each diagnostic check (issue 10), shown when it trips.
TRUST_EXPLANATIONS = {
    "bias": (
        "Bias terms absorbed a large share of the relevance. The map explains only part of the "
        "prediction, so letter heights understate what drives it; compare the conservation gap."
    ),
    "border": (
        "Relevance piles up at the sequence ends, where zero padding meets the convolutions. "
        "Peaks near the edges may be padding artifacts rather than sequence signal."
    ),
    "n-columns": (
        "Unknown (N) or padded positions carry relevance. Rules that ignore the input (flat, "
        "w-square, zB) do this by design, but it says nothing about the sequence itself."
    ),
    "randomisation": (
        "The maps depend too little on what the model learnt: they barely change when its weights "
        "are randomised, or a random network of the same architecture gives maps just as sparse. "
        "Do not read motifs out of them. (z+ and alpha-beta rules are known to react little to "
        "randomising upper layers.)"
    ),
    "strand": (
        "The map of the reverse-complement sequence, flipped back, or the map after shuffling the "
        "flanks disagrees with the original: the explanation is not stable."
    ),
}

_CSS = """
:root { --fg:#1f2933; --muted:#616e7c; --line:#e4e7eb; --bg:#f5f7fa; --card:#ffffff;
        --accent:#2b6cb0; --ok:#2f855a; --okbg:#e6f4ea; --bad:#c53030; --badbg:#fde8e8; }
* { box-sizing: border-box; }
body { margin:0; font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); line-height:1.45; font-size:14px; }
header { background:#102a43; color:#fff; padding:22px 32px 16px; }
header h1 { margin:0 0 4px; font-size:22px; font-weight:600; }
header p { margin:0; color:#bcccdc; font-size:13px; }
nav { background:#243b53; padding:8px 32px; position:sticky; top:0; z-index:2; }
nav a { color:#d9e2ec; text-decoration:none; margin-right:18px; font-size:13px; }
nav a:hover { color:#fff; text-decoration:underline; }
main { max-width:1180px; margin:0 auto; padding:8px 24px 48px; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px;
          margin:20px 0; padding:16px 22px 18px; }
h2 { font-size:18px; margin:0 0 12px; color:#102a43; border-bottom:2px solid var(--accent);
     padding-bottom:4px; display:inline-block; }
h3 { font-size:15px; margin:14px 0 6px; }
table { border-collapse:collapse; font-size:13px; margin:6px 0; }
th, td { text-align:left; padding:4px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:#f0f4f8; font-weight:600; }
th.num { text-align:right; }
td.num { text-align:right; font-variant-numeric: tabular-nums; font-family: ui-monospace, Menlo, Consolas, monospace; }
table.kv th { width:260px; }
.scroll { max-height:460px; overflow:auto; border:1px solid var(--line); border-radius:4px; }
.scroll table { margin:0; width:100%; }
.scroll th { position:sticky; top:0; }
.note { color:var(--muted); font-size:13px; }
.empty { color:var(--muted); font-style:italic; }
.grid { display:grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap:14px; }
.stack { display:grid; grid-template-columns: 1fr; gap:14px; }
.row { display:grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap:0 20px; }
.side { display:flex; flex-wrap:wrap; gap:24px; align-items:flex-start; }
.card { border:1px solid var(--line); border-radius:6px; padding:10px 12px; background:#fff; }
.card h3 { margin-top:0; }
.meta { color:var(--muted); font-size:12px; margin-bottom:6px; }
img { max-width:100%; height:auto; display:block; }
.logos { display:flex; flex-wrap:wrap; gap:10px; align-items:flex-start; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600;
         white-space:nowrap; }
.badge.ok { background:var(--okbg); color:var(--ok); }
.badge.bad { background:var(--badbg); color:var(--bad); }
.badge.na { background:#eef2f6; color:var(--muted); }
.verdict { padding:10px 14px; border-radius:6px; margin:6px 0 12px; }
.verdict.ok { background:var(--okbg); border-left:4px solid var(--ok); }
.verdict.bad { background:var(--badbg); border-left:4px solid var(--bad); }
.verdict ul { margin:6px 0 0 0; padding-left:20px; }
details pre { background:#f0f4f8; padding:8px; border-radius:4px; overflow:auto; font-size:12px; max-height:300px; }
footer { color:var(--muted); font-size:12px; text-align:center; padding:12px; }
"""


# ----------------------------------------------------------------------------- helpers


def _e(text):
    return html.escape(str(text), quote=True)


def _get(obj, key, default=None):
    if isinstance(obj, dict):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _to_builtin(v):
    """numpy / torch scalars and arrays -> plain Python values (for display and JSON)."""
    if hasattr(v, "detach"):
        v = v.detach().cpu().numpy()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist() if v.size <= 64 else f"array of shape {v.shape}"
    if isinstance(v, dict):
        return {str(k): _to_builtin(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_builtin(x) for x in v]
    return v


def _fmt(v, key=""):
    """Format one value for a table cell (escaped HTML)."""
    v = _to_builtin(v)
    if v is None:
        return '<span class="empty">&ndash;</span>'
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return _e(f"{v:,}" if abs(v) >= 10000 else v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        k = str(key).lower()
        if ("p_value" in k or "q_value" in k or k in ("p", "q", "pval", "qval")) and v != 0:
            return _e(f"{v:.2e}")
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return _e(f"{v:.3e}")
        return _e(f"{v:.4g}")
    if isinstance(v, (dict, list)):
        text = json.dumps(v, default=str)
        if len(text) > 300:
            text = text[:300] + " ..."
        return f"<code>{_e(text)}</code>"
    return _e(v)


def _is_num(v):
    v = _to_builtin(v)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _kv_table(d):
    rows = "".join(
        f"<tr><th>{_e(k)}</th><td{' class=num' if _is_num(v) else ''}>{_fmt(v, k)}</td></tr>"
        for k, v in d.items()
    )
    return f'<table class="kv">{rows}</table>'


def _table(columns, rows, max_rows=None, scroll=False):
    """HTML table; ``rows`` are sequences aligned with ``columns``."""
    n = len(rows)
    shown = rows if max_rows is None else rows[:max_rows]
    numeric = [bool(shown) and all(_is_num(r[j]) or r[j] is None for r in shown) for j in range(len(columns))]
    head = "".join(f"<th{' class=num' if num else ''}>{_e(c)}</th>" for c, num in zip(columns, numeric))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if _is_num(v) else ''}>{_fmt(v, c)}</td>"
                         for c, v in zip(columns, r)) + "</tr>"
        for r in shown
    )
    out = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if scroll:
        out = f'<div class="scroll">{out}</div>'
    if len(shown) < n:
        out += f'<p class="note">Showing the first {len(shown):,} of {n:,} rows.</p>'
    return out


def _empty(what):
    return f'<p class="empty">{_e(what)}</p>'


def _img(uri, alt):
    if not isinstance(uri, str) or not uri.startswith("data:image/"):
        raise ValueError(f"image {alt!r} is not a data:image URI")
    return f'<img src="{_e(uri)}" alt="{_e(alt)}">'


def _fig_uri(fig, fmt="png"):
    return figure_to_data_uri(fig, fmt=fmt)


# ----------------------------------------------------------------------------- summary


def _gini(a):
    """Gini index of each row of a non-negative (N, L) array; NaN for all-zero rows."""
    s = np.sort(a, axis=1)
    n = s.shape[1]
    tot = s.sum(axis=1)
    k = np.arange(1, n + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = ((2 * k - n - 1) * s).sum(axis=1) / (n * tot)
    return np.where(tot > 0, g, np.nan)


def summarise_attributions(R, R_dense=None, outputs=None):
    """Sparsity and conservation figures for the report's summary table.

    Parameters
    ----------
    R : numpy.ndarray or torch.Tensor, shape (N, 4, L)
        Attribution maps (pruned).
    R_dense : numpy.ndarray or torch.Tensor, shape (N, 4, L), optional
        Unpruned maps of the same sequences.
    outputs : array-like, shape (N,), optional
        The explained model outputs; adds the conservation gap
        ``mean |sum r - f(x)| / mean |f(x)|``.

    Returns
    -------
    dict
        Number of sequences and length; per map: mean share of exactly-zero
        positions, mean Gini index of ``|r|`` (all-zero maps left out and counted),
        mean total relevance per sequence; and the conservation gap when
        ``outputs`` are given.
    """
    def arr(a):
        if hasattr(a, "detach"):
            a = a.detach().cpu().numpy()
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 3 or a.shape[1] != 4:
            raise ValueError(f"attributions must have shape (N, 4, L); got {a.shape}")
        return a

    out = {}
    maps = [("pruned" if R_dense is not None else "attribution", arr(R))]
    if R_dense is not None:
        maps.insert(0, ("dense", arr(R_dense)))
    out["sequences"] = int(maps[0][1].shape[0])
    out["length"] = int(maps[0][1].shape[2])
    for label, a in maps:
        r = a.sum(axis=1)
        g = _gini(np.abs(r))
        out[f"{label}: share of zero positions"] = float((r == 0).mean())
        out[f"{label}: Gini of |r|"] = float(np.nanmean(g)) if np.isfinite(g).any() else float("nan")
        out[f"{label}: all-zero maps"] = int(np.isnan(g).sum())
        out[f"{label}: mean relevance sum"] = float(r.sum(axis=1).mean())
        if outputs is not None:
            f = np.asarray(outputs, dtype=np.float64).ravel()
            if f.size == r.shape[0] and np.abs(f).mean() > 0:
                out[f"{label}: conservation gap"] = float(np.abs(r.sum(axis=1) - f).mean() / np.abs(f).mean())
    return out


# ----------------------------------------------------------------------------- sections


def _flatten(d, prefix=""):
    """Nested dicts -> one level with dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        v = _to_builtin(v)
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _section_parameters(params):
    if not params:
        return _empty("No run parameters given.")
    return _kv_table(_flatten(params))


def _section_summary(summary):
    if not summary:
        return _empty("No summary given.")
    return _kv_table(summary)


def _section_layers(layer_sparsity):
    if not layer_sparsity:
        return _empty("No per-layer sparsity given.")
    from .layers import plot_layer_sparsity

    fig = plot_layer_sparsity(layer_sparsity)
    parts = [_img(_fig_uri(fig), "per-layer sparsity")]
    note = ('<p class="note">Layers from the input (left) toward the output; pruned LRP zeroes relevance '
            'layer by layer, so sparsity compounds toward the input.</p>')
    vals = list(layer_sparsity.values())
    if all(isinstance(v, dict) for v in vals):
        cols = []
        for v in vals:
            cols += [k for k in v if k not in cols]
        rows = [[k] + [v.get(c) for c in cols] for k, v in layer_sparsity.items()]
        parts.append(_table(["layer"] + cols, rows))
    else:
        parts.append(_table(["layer", "value"], [[k, v] for k, v in layer_sparsity.items()]))
    return note + f'<div class="side">{"".join(parts)}</div>'


def _sequence_card(i, seq, crop):
    name = _get(seq, "name", f"sequence {i}")
    X, R = _check_pair(_get(seq, "X"), _get(seq, "R"))
    R_dense = _get(seq, "R_dense")
    r = R.sum(axis=0)
    start, stop = crop_window(r, crop) if crop else (0, r.size)
    if R_dense is not None:
        fig = plot_lrp_comparison(X, R_dense, R, crop=crop or None)
        alt = f"LRP and pruned LRP logos of {name}"
    else:
        fig = plot_attribution_logo(X, R, crop=crop or None)
        alt = f"attribution logo of {name}"
    meta = {}
    for key in ("score", "target", "prediction", "label", "coords"):
        if _get(seq, key) is not None:
            meta[key] = _get(seq, key)
    meta["positions shown"] = f"{start}-{stop - 1} of {r.size}"
    meta["relevance sum"] = float(r.sum())
    meta["non-zero positions"] = int((r != 0).sum())
    meta_html = " &middot; ".join(f"{_e(k)}: {_fmt(v, k)}" for k, v in meta.items())
    return (f'<div class="card"><h3>{_e(name)}</h3><div class="meta">{meta_html}</div>'
            f"{_img(_fig_uri(fig), alt)}</div>")


def _section_sequences(sequences, crop):
    if not sequences:
        return _empty("No sequences given.")
    note = ("<p class=\"note\">Letter height = the position's relevance (sum over the four rows) on the "
            "observed base; negative relevance below the axis. Long windows are cropped to the "
            f"{crop or 'full'}-position window with the most relevance.")
    if any(_get(s, "R_dense") is not None for s in sequences):
        note += " Upper logo: LRP; lower logo: pruned LRP (same window, own scales)."
    note += "</p>"
    cards = "".join(_sequence_card(i, s, crop) for i, s in enumerate(sequences))
    return note + f'<div class="stack">{cards}</div>'


_MATCH_COLS = ["target_id", "target_name", "p", "q", "database", "offset", "orientation"]


def _match_value(m, col):
    if col == "p":
        return m.get("p", m.get("p_value"))
    if col == "q":
        return m.get("q", m.get("q_value"))
    return m.get(col)


def _orient(a, strand):
    return a[::-1, ::-1] if strand == "-" else a


def motif_examples(motif, X, R, names=None, n=3):
    """The ``n`` strongest seqlets of a motif, cut to its trimmed columns, for the report.

    Parameters
    ----------
    motif : Motif or dict
        With ``seqlets`` ((sequence, start, end, strand) of the untrimmed pattern)
        and ``trim`` ((lo, hi) columns of it), as :func:`sparselrp.motifs.discover`
        gives them; a motif without seqlets has no examples.
    X : array_like, shape (N, 4, L)
        One-hot sequences.
    R : array_like, shape (N, 4, L)
        Contributions drawn in the logos (projected, or hypothetical: then ``X * R``).
    names : sequence of str, optional
        Sequence names, for the labels.
    n : int
        Number of examples (strongest first by ``|sum of contributions|``).

    Returns
    -------
    list of dict
        ``name`` (a label with the sequence name, window and strand), ``X`` and ``R``
        (4, w) oriented as the motif (reverse complemented for ``"-"`` seqlets).
    """
    seqlets = list(_get(motif, "seqlets", None) or [])
    if not seqlets or n <= 0:
        return []
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    if hasattr(R, "detach"):
        R = R.detach().cpu().numpy()
    X = np.asarray(X, dtype=np.float64)
    R = np.asarray(R, dtype=np.float64)
    trim = _get(motif, "trim", None)
    out = []
    for seq, start, end, strand in seqlets:
        lo, hi = (0, end - start) if trim is None else (int(trim[0]), int(trim[1]))
        a, b = (start + lo, start + hi) if strand == "+" else (end - hi, end - lo)
        if seq >= X.shape[0] or b > X.shape[2] or a < 0:
            continue
        x, r = X[seq, :, a:b], R[seq, :, a:b]
        c = r * x if np.any(r * (1 - x)) else r  # hypothetical scores -> contributions
        out.append((abs(float(c.sum())), seq, a, b, strand, _orient(x, strand), _orient(c, strand)))
    out.sort(key=lambda t: -t[0])
    label = (lambda i: str(names[i])) if names is not None else (lambda i: f"sequence {i}")
    return [{"name": f"{label(seq)} {a}-{b} ({strand})", "X": x, "R": r} for _, seq, a, b, strand, x, r in out[:n]]


def _motif_card(i, motif, max_matches, examples):
    from ..motifs.motif import information_content

    name = _get(motif, "name", f"motif {i}")
    logos = []
    for kind, label in (("pwm", "PWM (bits)"), ("cwm", "CWM"), ("hcwm", "hCWM")):
        if _get(motif, kind) is None:
            continue
        fig = plot_motif_logo(_get(motif, kind), kind=kind, title=label)
        logos.append(_img(_fig_uri(fig), f"{kind.upper()} logo of {name}"))
    matches = list(_get(motif, "matches", None) or [])
    support = _get(motif, "support")
    sign = _get(motif, "sign")
    meta = [f"{_e(sign)} pattern" if sign else None,
            f"{_fmt(support)} seqlets" if support is not None else None]
    pwm = _get(motif, "pwm")
    if pwm is not None:
        pwm = np.asarray(pwm, dtype=np.float64)
        meta.append(f"{pwm.shape[1]} columns, {float(information_content(pwm).sum()):.1f} bits")
    if matches:
        best = matches[0]
        meta.append(f"best match: <b>{_e(best.get('target_name', ''))}</b> "
                    f"({_e(best.get('target_id', ''))}, q = {_fmt(_match_value(best, 'q'), 'q')})")
    meta_html = " &middot; ".join(m for m in meta if m)
    if matches:
        cols = [c for c in _MATCH_COLS if any(_match_value(m, c) is not None for m in matches)]
        rows = [[_match_value(m, c) for c in cols] for m in matches]
        table = _table(cols, rows, max_rows=max_matches)
    else:
        table = _empty("No database matches.")
    ex = ""
    if examples:
        figs = []
        for e in examples:
            fig = plot_attribution_logo(_get(e, "X"), _get(e, "R"), crop=None,
                                        figsize=(max(2.0, 0.22 * np.asarray(_get(e, "X")).shape[1] + 0.8), 1.1))
            figs.append(f'<div><div class="meta">{_e(_get(e, "name", ""))}</div>'
                        f'{_img(_fig_uri(fig), "example seqlet of " + str(name))}</div>')
        ex = f'<h3>Example seqlets</h3><div class="logos">{"".join(figs)}</div>'
    return (f'<div class="card"><h3>{_e(name)}</h3><div class="meta">{meta_html}</div>'
            f'<div class="logos">{"".join(logos)}</div>{table}{ex}</div>')


def _section_motifs(motifs, max_matches, motif_examples=None):
    if not motifs:
        return _empty("No motifs given.")
    motif_examples = motif_examples or {}
    note = ('<p class="note">Patterns found by tfmodisco-lite in the hypothetical scores, best first by the '
            'number of seqlets. PWM: base frequencies of the aligned seqlets as information content (bits); '
            'CWM: their mean contribution; hCWM: their mean hypothetical contribution (what each base would '
            'give). Positive patterns raise the explained output, negative ones lower it. Matches: TOMTOM '
            '(memelite) against JASPAR and any other database given, best first.</p>')
    parts = [note]
    signs = {_get(m, "sign") for m in motifs}
    groups = ([("positive", "Positive patterns"), ("negative", "Negative patterns")]
              if signs <= {"positive", "negative"} and None not in signs else [(None, None)])
    for sign, title in groups:
        chosen = [(i, m) for i, m in enumerate(motifs) if sign is None or _get(m, "sign") == sign]
        if title:
            parts.append(f"<h3>{_e(title)} ({len(chosen)})</h3>")
        if not chosen:
            parts.append(_empty(f"No {sign} patterns."))
            continue
        cards = "".join(_motif_card(i, m, max_matches, motif_examples.get(_get(m, "name", f"motif {i}")))
                        for i, m in chosen)
        parts.append(f'<div class="stack">{cards}</div>')
    return "".join(parts)


def _seqlet_columns(seqlets):
    """(columns, rows) of a seqlet table: a list of dicts, a dict of columns, or an object
    with ``to_records()`` (:class:`sparselrp.motifs.Seqlets`)."""
    if hasattr(seqlets, "to_records"):
        seqlets = seqlets.to_records()
    if isinstance(seqlets, dict):
        cols = [str(c) for c in seqlets]
        data = [list(_to_builtin(v)) if not isinstance(v, list) else v for v in seqlets.values()]
        lengths = {len(d) for d in data}
        if len(lengths) > 1:
            raise ValueError(f"seqlet columns have different lengths: {sorted(lengths)}")
        return cols, [list(r) for r in zip(*data)]
    rows = list(seqlets)
    cols = []
    for r in rows:
        cols += [str(k) for k in r if str(k) not in cols]
    return cols, [[r.get(c) for c in cols] for r in rows]


def _section_seqlets(seqlets, max_rows):
    if seqlets is None:
        return _empty("No seqlet table given.")
    cols, rows = _seqlet_columns(seqlets)
    if not rows:
        return _empty("The seqlet table is empty.")
    return f'<p class="note">{len(rows):,} seqlets.</p>' + _table(cols, rows, max_rows=max_rows, scroll=True)


def _trust_figure(name, value):
    if hasattr(value, "savefig"):
        return _img(_fig_uri(value), name)
    if isinstance(value, (bytes, bytearray)) and bytes(value[:8]) == b"\x89PNG\r\n\x1a\n":
        import base64

        return _img("data:image/png;base64," + base64.b64encode(bytes(value)).decode("ascii"), name)
    if isinstance(value, str) and value.startswith("data:image/"):
        return _img(value, name)
    return ""


def _section_trust(trust):
    if not trust:
        return _empty("No diagnostics given (run `sparselrp diagnose` and pass its JSON with --diagnostics).")
    parts = []
    flags = [str(f) for f in (trust.get("flags") or [])]
    checks = [c for c in (trust.get("checks") or []) if isinstance(c, dict)]
    if flags:
        items = "".join(
            f"<li><b>{_e(f)}</b>: {_e(TRUST_EXPLANATIONS.get(f, 'This check tripped; see its figure below.'))}</li>"
            for f in flags)
        parts.append(f'<div class="verdict bad"><b>{len(flags)} check{"s" if len(flags) != 1 else ""} '
                     f'tripped.</b> Read the maps with care:<ul>{items}</ul></div>')
    elif "flags" in trust or checks:
        parts.append('<div class="verdict ok"><b>No check tripped.</b> None of the diagnostics found a known '
                     'artifact (bias absorption, border effects, relevance on N columns, insensitivity to '
                     'model randomisation, instability). That does not prove the map right, only that it '
                     'passed these tests.</div>')
    if checks:
        cols = ["check", "value", "threshold", "result", "verdict"]
        body = []
        for c in checks:
            passed = c.get("passed")
            name = c.get("name", "")
            if passed is None:
                badge = '<span class="badge na">not applicable</span>'
            elif passed is False and c.get("counts_for_flag") is False:
                badge = '<span class="badge na">context only</span>'
            else:
                badge = (f'<span class="badge {"ok" if passed else "bad"}">'
                         f'{"passed" if passed else "flagged"}</span>')
            verdict = c.get("verdict")
            if verdict is None and passed is False:
                verdict = TRUST_EXPLANATIONS.get(str(name).split(":")[0].split(" ")[0])
            elif verdict is None and passed is True:
                verdict = "Within the threshold."
            cells = [f"<td>{_e(name)}</td>",
                     f"<td class=num>{_fmt(c.get('value'), 'value')}</td>",
                     f"<td class=num>{_fmt(c.get('threshold'), 'threshold')}</td>",
                     f"<td>{badge}</td>", f"<td>{_fmt(verdict)}</td>"]
            body.append("<tr>" + "".join(cells) + "</tr>")
        head = "".join(f"<th{' class=num' if c in ('value', 'threshold') else ''}>{c}</th>" for c in cols)
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    figures = trust.get("figures")
    if isinstance(figures, dict):
        imgs = "".join(_trust_figure(str(k), v) for k, v in figures.items())
        if imgs:
            parts.append(f'<div class="logos">{imgs}</div>')
    rest = {k: v for k, v in trust.items() if k not in ("flags", "checks", "figures")}
    scalars = {k: v for k, v in rest.items() if not isinstance(_to_builtin(v), (dict, list))}
    flat = {k: v for k, v in rest.items() if isinstance(_to_builtin(v), dict)
            and all(not isinstance(x, (dict, list)) for x in _to_builtin(v).values())}
    nested = {k: v for k, v in rest.items() if k not in scalars and k not in flat}
    if scalars:
        parts.append("<h3>Figures</h3>" + _kv_table(scalars))
    for k, v in flat.items():
        parts.append(f"<h3>{_e(k)}</h3>" + _kv_table(v))
    for k, v in nested.items():
        text = json.dumps(_to_builtin(v), indent=1, default=str)
        if len(text) > 20000:
            text = text[:20000] + "\n..."
        parts.append(f"<details><summary>{_e(k)}</summary><pre>{_e(text)}</pre></details>")
    if not parts:
        return _empty("The diagnostics hold no checks.")
    return "".join(parts)


# ----------------------------------------------------------------------------- report


def render_report(*, params=None, summary=None, layer_sparsity=None, sequences=(), motifs=(), seqlets=None,
                  trust=None, title="sparselrp report", crop=DEFAULT_CROP, max_seqlet_rows=500,
                  max_matches=5, motif_examples=None):
    """Build the HTML report as a string (see :func:`write_report` for the arguments).

    Returns
    -------
    str
        A complete HTML5 document.
    """
    from .. import __version__

    bodies = {
        "parameters": _section_parameters(params),
        "summary": _section_summary(summary),
        "layers": _section_layers(layer_sparsity),
        "sequences": _section_sequences(list(sequences or []), crop),
        "motifs": _section_motifs(list(motifs or []), max_matches, motif_examples),
        "seqlets": _section_seqlets(seqlets, max_seqlet_rows),
        "trust": _section_trust(trust),
    }
    nav = "".join(f'<a href="#{sid}">{_e(label)}</a>' for sid, label in SECTIONS)
    html_sections = [f'<section id="{sid}"><h2>{_e(label)}</h2>{bodies[sid]}</section>' for sid, label in SECTIONS]
    # the two short tables side by side
    sections = f'<div class="row">{html_sections[0]}{html_sections[1]}</div>' + "".join(html_sections[2:])
    n_seq = len(sequences or [])
    n_mot = len(motifs or [])
    sub = f"{n_seq} sequence{'s' if n_seq != 1 else ''} &middot; {n_mot} motif{'s' if n_mot != 1 else ''}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{_e(title)}</h1><p>{sub} &middot; sparse attributions by pruned layer-wise relevance "
        "propagation</p></header>"
        f"<nav>{nav}</nav><main>{sections}</main>"
        f"<footer>Made by sparselrp {_e(__version__)}. This file is self-contained: it loads nothing "
        "from the network.</footer></body></html>\n"
    )


def write_report(path, *, params=None, summary=None, layer_sparsity=None, sequences=(), motifs=(),
                 seqlets=None, trust=None, title="sparselrp report", crop=DEFAULT_CROP, max_seqlet_rows=500,
                 max_matches=5, motif_examples=None):
    """Write the self-contained HTML report atomically.

    Parameters
    ----------
    path : str or Path
        Output ``.html`` file.
    params : dict, optional
        Run parameters (name -> value), shown as a table.
    summary : dict, optional
        Sparsity and conservation figures (name -> value), e.g. from
        :func:`summarise_attributions`.
    layer_sparsity : dict, optional
        Layer name -> number, or layer name -> {measure: number}; plotted with
        :func:`sparselrp.plot.plot_layer_sparsity`.
    sequences : list of dict
        Each with ``name``, ``X`` (4, L) one-hot, ``R`` (4, L) attributions,
        optionally ``R_dense`` (4, L) unpruned attributions (drawn above the pruned
        logo), ``score``/``target``/``coords``.
    motifs : list
        Objects or dicts with ``name``, ``pwm`` (4, W), ``cwm`` (4, W), ``hcwm``
        (4, W) or None, ``support``, optionally ``sign`` (``"positive"`` /
        ``"negative"``: the section then lists the two groups apart) and
        ``matches`` (list of dicts with ``target_id, target_name, p, q`` (or
        ``p_value, q_value``), ``database, offset, orientation``).
    seqlets : list of dict or dict of columns, optional
        The seqlet table (at most ``max_seqlet_rows`` rows are shown).
    trust : dict, optional
        Diagnostics (``sl.diagnose(...).to_dict()``): ``flags`` (list of str),
        ``checks`` (list of dicts ``name, value, threshold, passed, verdict``),
        optional ``figures`` (name -> Figure, PNG bytes or data URI) and any other
        entries (shown as tables or collapsed JSON).
    title : str
        Page title.
    crop : int or None
        Logo window width (see :func:`sparselrp.plot.crop_window`).
    max_seqlet_rows, max_matches : int
        Display limits.
    motif_examples : dict, optional
        Motif name -> list of example seqlets (dicts with ``name``, ``X`` and ``R``
        (4, w)), e.g. from :func:`motif_examples`; drawn as small logos in the
        motif's card.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from .._atomic import atomic_open

    text = render_report(params=params, summary=summary, layer_sparsity=layer_sparsity, sequences=sequences,
                         motifs=motifs, seqlets=seqlets, trust=trust, title=title, crop=crop,
                         max_seqlet_rows=max_seqlet_rows, max_matches=max_matches, motif_examples=motif_examples)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return Path(path)
