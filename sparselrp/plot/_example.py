"""A small synthetic report, for the browser test and ``docs/make_screenshot.py``.

The inputs imitate a run on CTCF peaks without needing a model: a CTCF-like core
is planted in random sequences, the "pruned" map puts relevance on it, the
"dense" map adds low-level noise everywhere. The title says it is synthetic.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

_CORE = "CCGCGAGGGGGCGC"  # a CTCF-like core (JASPAR MA0139 consensus, shortened)


def example_report_inputs(n=6, length=400, seed=0):
    """Keyword arguments for :func:`sparselrp.plot.write_report` (a synthetic example).

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        Sequence length.
    seed : int
        Random seed.

    Returns
    -------
    dict
        ``params``, ``summary``, ``layer_sparsity``, ``sequences``, ``motifs``,
        ``seqlets``, ``trust``, ``title``.
    """
    from .report import summarise_attributions

    rng = np.random.default_rng(seed)
    W = len(_CORE)
    idx = rng.integers(0, 4, (n, length))
    starts = rng.integers(20, length - W - 20, n)
    core = np.array(["ACGT".index(c) for c in _CORE])
    for i, s in enumerate(starts):
        idx[i, s:s + W] = np.where(rng.random(W) < 0.85, core, rng.integers(0, 4, W))
    X = np.eye(4, dtype=np.float32)[idx].transpose(0, 2, 1)
    R = np.zeros_like(X)
    for i, s in enumerate(starts):
        w = rng.gamma(2.0, 0.25, W) * (idx[i, s:s + W] == core) - 0.05 * (idx[i, s:s + W] != core)
        R[i, :, s:s + W] = X[i, :, s:s + W] * w
    R_dense = R + X * rng.normal(0, 0.02, (n, 1, length)).astype(np.float32)

    support = 40  # the motif is built from more seqlets than the report shows sequences
    sites = np.where(rng.random((support, W)) < 0.85, core, rng.integers(0, 4, (support, W)))
    counts = np.full((4, W), 0.1)
    np.add.at(counts, (sites.ravel(), np.tile(np.arange(W), support)), 1.0)
    pwm = counts / counts.sum(axis=0, keepdims=True)
    cwm = np.zeros((4, W))
    for i, s in enumerate(starts):
        cwm += R[i, :, s:s + W]
    cwm /= n
    matches = [
        {"target_id": "MA0139.2", "target_name": "CTCF", "p_value": 2.1e-9, "q_value": 4.0e-6, "offset": 2,
         "orientation": "+"},
        {"target_id": "MA1929.2", "target_name": "CTCF", "p_value": 8.3e-8, "q_value": 7.7e-5, "offset": 5,
         "orientation": "+"},
        {"target_id": "MA1102.3", "target_name": "CTCFL", "p_value": 1.6e-6, "q_value": 9.9e-4, "offset": 1,
         "orientation": "-"},
    ]
    motif = SimpleNamespace(name="motif_1", pwm=pwm, cwm=cwm, hcwm=None, support=support, matches=matches)

    seqlets = {
        "seqlet_id": list(range(n)),
        "seq": list(range(n)),
        "name": [f"peak_{i}" for i in range(n)],
        "start": [int(s) - 3 for s in starts],
        "end": [int(s) + W + 3 for s in starts],
        "score": [float(R[i].sum()) for i in range(n)],
        "strand": ["."] * n,
    }
    sequences = [{"name": f"peak_{i}", "X": X[i], "R": R[i], "R_dense": R_dense[i],
                  "coords": f"chr1:{100000 + 5000 * i}-{100000 + 5000 * i + length}(+)"} for i in range(n)]
    trust = {
        "flags": ["border"],
        "composite": "best-practice",
        "checks": [
            {"name": "bias: share absorbed", "value": 0.04, "threshold": 0.2, "passed": True,
             "verdict": "Biases absorb little relevance."},
            {"name": "border: share / uniform", "value": 2.7, "threshold": 2.0, "passed": False, "verdict": None},
            {"name": "n-columns: share on N/padding", "value": 0.0, "threshold": 0.01, "passed": True, "verdict": None},
            {"name": "randomisation: similarity (best-practice)", "value": 0.12, "threshold": 0.5, "passed": True,
             "verdict": "Maps change when the model is randomised: they depend on what it learnt."},
            {"name": "strand: reverse-complement agreement", "value": 0.91, "threshold": 0.7, "passed": True, "verdict": None},
        ],
    }
    return {
        "title": "sparselrp report (synthetic example)",
        "params": {"model": "synthetic example", "composite": "best-practice", "pruning": "MassPrune(0.5)",
                   "target": 0, "sequences": n, "length": length},
        "summary": summarise_attributions(R, R_dense),
        "layer_sparsity": {"conv1": {"share of zeros": 0.62, "Gini of |relevance|": 0.81},
                           "conv2": {"share of zeros": 0.78, "Gini of |relevance|": 0.9},
                           "conv3": {"share of zeros": 0.86, "Gini of |relevance|": 0.94},
                           "dense": {"share of zeros": 0.9, "Gini of |relevance|": 0.95}},
        "sequences": sequences,
        "motifs": [motif],
        "seqlets": seqlets,
        "trust": trust,
    }
