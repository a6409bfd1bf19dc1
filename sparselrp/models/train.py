"""Train a classifier on DNA: FASTA positives vs negatives (or shuffles), or BED + genome + labels.

:func:`fit` trains a model on tensors; :func:`train` prepares the data from files
(encode, make shuffled negatives, split) and writes a model directory plus
``metrics.json``; :func:`train_ctcf_model` trains the demo CTCF model on the
shipped peaks. Training is seeded and reproducible: the same seed, data and
thread count give bit-identical weights.
"""

import contextlib
import copy
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_open
from ..errors import InputFormatError
from ..io.jsonfile import finite_json
from .io import save
from .zoo import get_architecture

__all__ = ["auroc", "fit", "train", "train_ctcf_model", "TrainingResult"]


def auroc(y_true, y_score):
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Parameters
    ----------
    y_true : array-like
        ``(N,)`` binary labels.
    y_score : array-like
        ``(N,)`` scores.

    Returns
    -------
    float
        AUROC, or ``nan`` when only one class is present.
    """
    from scipy.stats import rankdata

    y_true = np.asarray(y_true, dtype=float).ravel() > 0.5
    y_score = np.asarray(y_score, dtype=float).ravel()
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(y_score)
    return float((ranks[y_true].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _mean_auroc(y, scores):
    per_task = [auroc(y[:, t], scores[:, t]) for t in range(y.shape[1])]
    valid = [a for a in per_task if not math.isnan(a)]
    return (float(np.mean(valid)) if valid else float("nan")), per_task


@contextlib.contextmanager
def _reproducible(seed, device, num_threads):
    """Seed torch (restoring the caller's RNG state afterwards), use deterministic
    algorithms and, on CPU, ``num_threads`` intra-op threads."""
    devices = [device] if device.type == "cuda" else []
    was = torch.are_deterministic_algorithms_enabled()
    was_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True, warn_only=True)
        if num_threads is not None and device.type == "cpu":
            torch.set_num_threads(int(num_threads))
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(was, warn_only=was_warn)
            torch.set_num_threads(threads)


def _predict(model, X, batch_size, device):
    out = []
    with torch.no_grad():
        for i in range(0, X.shape[0], batch_size):
            out.append(model(X[i:i + batch_size].to(device)).float().cpu())
    return torch.cat(out) if out else torch.zeros((0, 1))


def _resolve_device(device):
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fit(model, X_train, y_train, X_val, y_val, epochs=20, patience=3, batch_size=64, lr=1e-3, weight_decay=0.0,
        rc_augment=True, seed=0, device=None, progress=False, min_delta=1e-4, num_threads=1):
    """Train ``model`` with binary cross-entropy and early stopping on validation AUROC.

    Each epoch visits the training set in a seeded random order; with
    ``rc_augment`` each sequence of a batch is reverse-complemented with
    probability 1/2 (seeded). After every epoch the validation loss and AUROC
    (mean over tasks) are recorded; training stops after ``patience`` epochs
    without an AUROC gain of ``min_delta`` and the best epoch's weights are
    restored. The caller's global torch RNG state is left unchanged.

    Parameters
    ----------
    model : nn.Module
        Maps ``(N, 4, L)`` to ``(N, T)`` logits; trained in place.
    X_train, X_val : torch.Tensor
        ``(N, 4, L)`` one-hot.
    y_train, y_val : torch.Tensor
        ``(N, T)`` labels in {0, 1}.
    epochs : int, default 20
        Maximum epochs.
    patience : int, default 3
        Epochs without improvement before stopping.
    batch_size : int, default 64
    lr : float, default 1e-3
        Adam learning rate.
    weight_decay : float, default 0
        Adam weight decay.
    rc_augment : bool, default True
        Random reverse-complement augmentation.
    seed : int, default 0
        Seeds batch order, augmentation and dropout.
    device : str or torch.device, optional
        Default CUDA when available, else CPU.
    progress : bool, default False
        Show a tqdm progress bar over epochs.
    min_delta : float, default 1e-4
        Smallest AUROC gain that counts as an improvement.
    num_threads : int or None, default 1
        CPU threads during training (restored afterwards). One thread makes runs
        bit-identical across machines and is the fastest for small models,
        especially on a busy machine; ``None`` keeps torch's setting (better for
        large models on an idle multi-core CPU).

    Returns
    -------
    dict
        ``history`` (per epoch: epoch, train_loss, val_loss, val_auroc,
        val_auroc_per_task), ``best_epoch``, ``best_val_auroc``, ``stopped_early``,
        ``seconds``.
    """
    from tqdm.auto import tqdm

    if X_train.ndim != 3 or X_train.shape[1] != 4:
        raise ValueError(f"X_train must have shape (N, 4, L), got {tuple(X_train.shape)}")
    y_train = y_train.float().reshape(len(y_train), -1)
    y_val = y_val.float().reshape(len(y_val), -1)
    if len(X_train) != len(y_train) or len(X_val) != len(y_val):
        raise ValueError("X and y must have the same number of sequences")
    if len(X_train) == 0 or len(X_val) == 0:
        raise ValueError("training and validation sets must not be empty")
    device = _resolve_device(device)
    start = time.perf_counter()
    history = []
    with _reproducible(seed, device, num_threads):
        model.to(device)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
        loss_fn = nn.BCEWithLogitsLoss()
        best, best_epoch, best_state, stale = -math.inf, 0, None, 0
        bar = tqdm(range(1, epochs + 1), desc="training", unit="epoch", disable=not progress, leave=False)
        for epoch in bar:
            model.train()
            order = torch.randperm(len(X_train), generator=gen)
            flips = torch.rand(len(X_train), generator=gen) < 0.5
            total = 0.0
            for i in range(0, len(order), batch_size):
                idx = order[i:i + batch_size]
                xb = X_train[idx]
                if rc_augment:
                    f = flips[idx]
                    xb = torch.where(f[:, None, None], xb.flip(1, 2), xb)
                xb, yb = xb.to(device), y_train[idx].to(device)
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xb), yb)
                loss.backward()
                opt.step()
                total += loss.item() * len(idx)
            model.eval()
            scores = _predict(model, X_val, max(batch_size, 256), device)
            val_loss = float(loss_fn(scores, y_val))
            val_auc, per_task = _mean_auroc(y_val.numpy(), scores.numpy())
            history.append(dict(epoch=epoch, train_loss=total / len(X_train), val_loss=val_loss,
                                val_auroc=val_auc, val_auroc_per_task=per_task))
            bar.set_postfix(loss=f"{total / len(X_train):.3f}", val_auroc=f"{val_auc:.3f}")
            if val_auc > best + min_delta or best_state is None:
                best, best_epoch, stale = val_auc, epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                stale += 1
                if stale >= patience:
                    break
        bar.close()
        model.load_state_dict(best_state)
        model.eval()
    return dict(history=history, best_epoch=best_epoch, best_val_auroc=best,
                stopped_early=len(history) < epochs, seconds=time.perf_counter() - start)


# ----------------------------------------------------------------------------- data preparation

def _is_path(value):
    """A FASTA path (not a DNA sequence given as a string)."""
    if isinstance(value, Path):
        return True
    return isinstance(value, str) and (Path(value).exists() or not re.fullmatch(r"[A-Za-z]*", value))


def _read_sequences(source, what):
    """FASTA path -> list of str; a list of str is returned as is."""
    if _is_path(source):
        from ..genome import read_fasta

        seqs = [s for _, s in read_fasta(source)]
        if not seqs:
            raise InputFormatError(f"no sequences in the {what} FASTA", path=source)
        return seqs
    if isinstance(source, (str, bytes)):
        raise TypeError(f"{what} must be a FASTA path, a list of sequences or a (N, 4, L) tensor, "
                        f"not a single sequence string")
    return list(source)


def _encode(source, length, what):
    from ..sequence import one_hot_encode_batch

    if isinstance(source, torch.Tensor):
        X = source.float()
        if X.ndim != 3 or X.shape[1] != 4:
            raise ValueError(f"{what} must have shape (N, 4, L), got {tuple(X.shape)}")
        return X
    seqs = _read_sequences(source, what)
    try:
        return one_hot_encode_batch(seqs, length=length, iupac="n")
    except ValueError as exc:
        where = f"{source}: " if isinstance(source, (str, Path)) else ""
        raise ValueError(f"{where}{what}: {exc}") from None


def _split_indices(n, fractions, rng):
    """Random split of ``range(n)`` into train/val/test index arrays."""
    perm = rng.permutation(n)
    n_test = int(round(fractions[1] * n))
    n_val = int(round(fractions[0] * n))
    return perm[n_test + n_val:], perm[n_test:n_test + n_val], perm[:n_test]


def _chrom_split(chroms, val_fraction, test_fraction, val_chroms, test_chroms, rng):
    """Assign whole chromosomes to train/val/test (index arrays)."""
    chroms = np.asarray(chroms)
    names = sorted(set(chroms.tolist()))
    if val_chroms is None or test_chroms is None:
        counts = {c: int((chroms == c).sum()) for c in names}
        pool = [c for c in rng.permutation(names).tolist()
                if c not in (val_chroms or []) and c not in (test_chroms or [])]
        chosen = {}
        for key, frac, given in (("test", test_fraction, test_chroms), ("val", val_fraction, val_chroms)):
            if given is not None:
                chosen[key] = list(given)
                continue
            picked, total = [], 0
            while pool and total < frac * len(chroms) and frac > 0:
                c = pool.pop(0)
                picked.append(c)
                total += counts[c]
            chosen[key] = picked
        val_chroms, test_chroms = chosen["val"], chosen["test"]
    val_set, test_set = set(val_chroms), set(test_chroms)
    if val_set & test_set:
        raise ValueError(f"chromosomes in both validation and test sets: {sorted(val_set & test_set)}")
    is_val = np.isin(chroms, list(val_set))
    is_test = np.isin(chroms, list(test_set))
    return (np.flatnonzero(~is_val & ~is_test), np.flatnonzero(is_val), np.flatnonzero(is_test),
            sorted(val_set), sorted(test_set))


def _read_labels(path, n, bed_path):
    path = Path(path)
    if path.suffix in (".npy", ".npz"):
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as f:
                arr = f[f.files[0]]
        names = None
    else:
        lines = [ln.rstrip("\n") for ln in path.read_text().splitlines() if ln.strip()]
        if not lines:
            raise InputFormatError("empty labels file", path=path)
        header = lines[0].split("\t")
        rows = []
        try:
            float(header[0])
            names, body, first = None, lines, 1
        except ValueError:
            names, body, first = header, lines[1:], 2
        for k, line in enumerate(body):
            fields = line.split("\t")
            try:
                rows.append([float(v) for v in fields])
            except ValueError:
                raise InputFormatError(f"labels must be numbers, got {line!r}", path=path, line=k + first) from None
            if len(fields) != len(rows[0]):
                raise InputFormatError(f"expected {len(rows[0])} columns, got {len(fields)}", path=path,
                                       line=k + first)
        arr = np.asarray(rows)
    arr = np.asarray(arr, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] != n:
        raise InputFormatError(f"has {arr.shape[0]} label rows but {bed_path} has {n} regions", path=path)
    if not np.isin(arr, (0.0, 1.0)).all():
        raise InputFormatError("labels must be 0 or 1", path=path)
    return arr, names


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : nn.Module
        The trained model (best validation epoch), in eval mode.
    metrics : dict
        What ``metrics.json`` holds.
    directory : Path or None
        The model directory, if one was written.
    """

    model: nn.Module
    metrics: dict = field(default_factory=dict)
    directory: Path = None


def train(positives=None, negatives=None, shuffles=None, bed=None, genome=None, labels=None, arch="small_cnn",
          arch_kwargs=None, length=None, out_dir=None, epochs=20, patience=3, seed=0, batch_size=64, lr=1e-3,
          weight_decay=0.0, val_fraction=0.2, test_fraction=0.1, val_chroms=None, test_chroms=None,
          rc_augment=True, device=None, progress=False, task_names=None, num_threads=1):
    """Train a zoo model for binary or multi-task classification of DNA sequences.

    Input, one of
    - ``positives`` (FASTA path, list of FASTA paths = one task each, list of
      sequences, or ``(N, 4, L)`` tensor) against ``negatives`` (same forms) and/or
      ``shuffles`` seeded dinucleotide shuffles of each positive (default 1 when no
      negatives are given); split by sequence, shuffles going with their source;
    - ``bed`` + ``genome`` (+ ``labels``: TSV with one row per region, 0/1 per task,
      optional header of task names; or ``.npy``/``.npz`` ``(N, T)``); without
      labels every region is a positive against ``shuffles``. Split by chromosome.

    Parameters
    ----------
    arch : str, default "small_cnn"
        Zoo architecture; built with ``seq_len=length``, ``n_targets=T`` and
        ``arch_kwargs``.
    length : int, optional
        Window length: sequences are centre-cropped/padded to it (BED regions are
        re-centred to it). Default: the common FASTA length, else the
        architecture's ``seq_len``.
    out_dir : str or Path, optional
        Write the model (``config.json`` + ``model.safetensors``, loadable with
        :func:`sparselrp.models.load`) and ``metrics.json`` here.
    epochs, patience, seed, batch_size, lr, weight_decay, rc_augment, device, progress, num_threads
        See :func:`fit`.
    val_fraction, test_fraction : float, default 0.2, 0.1
        Shares of sequences (or regions, whole chromosomes at a time) held out
        for early stopping and for the final, untouched AUROC.
    val_chroms, test_chroms : list of str, optional
        Explicit held-out chromosomes for BED input.
    task_names : list of str, optional
        Names of the label columns (recorded in the config metadata).

    Returns
    -------
    TrainingResult
        ``model``, ``metrics`` (per-epoch history, ``best_epoch``,
        ``best_val_auroc``, ``test_auroc``, ``test_auroc_per_task``, sizes, settings)
        and ``directory``.
    """
    rng = np.random.default_rng(seed)
    if (positives is None) == (bed is None):
        raise ValueError("give either positives (FASTA) or bed + genome")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise ValueError("val_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    if val_fraction == 0 and val_chroms is None:
        raise ValueError("early stopping needs a validation set: val_fraction must be > 0")
    arch_cls = get_architecture(arch)
    if out_dir is not None:
        out_dir = Path(out_dir)
        if not out_dir.parent.exists():
            raise FileNotFoundError(f"{out_dir}: parent directory {out_dir.parent} does not exist")
    split_info = {}

    if bed is not None:
        if genome is None:
            raise ValueError("bed input needs genome= (an indexed FASTA)")
        from ..genome import extract_windows, read_bed

        intervals = list(read_bed(bed))
        if not intervals:
            raise InputFormatError("no regions in the BED file", path=bed)
        from ..sequence import one_hot_encode_batch

        length = length or arch_cls().seq_len
        windows = extract_windows(intervals, genome, length, off_chrom="pad")
        Xp = one_hot_encode_batch(windows.seqs, length=length, iupac="n")
        chroms = list(windows.chrom)
        if labels is not None:
            yp, names = _read_labels(labels, len(intervals), bed)
            task_names = task_names or names
        else:
            yp = np.ones((len(intervals), 1), dtype=np.float32)
        tr, va, te, vc, tc = _chrom_split(chroms, val_fraction, test_fraction, val_chroms, test_chroms, rng)
        split_info = dict(split="chromosome", val_chroms=vc, test_chroms=tc)
        groups = [(Xp, torch.from_numpy(yp), (tr, va, te))]
        if negatives is not None:
            raise ValueError("negatives= (FASTA) cannot be combined with bed=; give labels or shuffles")
        if labels is None and not shuffles:
            shuffles = 1
        neg_sources = []
    else:
        multi = isinstance(positives, (list, tuple)) and len(positives) > 0 and all(_is_path(p) for p in positives)
        pos_list = list(positives) if multi else [positives]
        if length is None:
            encoded = [_encode(p, None, "positives") if isinstance(p, torch.Tensor) else None for p in pos_list]
            seq_lists = [None if e is not None else _read_sequences(p, "positives") for p, e in
                         zip(pos_list, encoded)]
            lens = {e.shape[-1] for e in encoded if e is not None} | {len(s) for sl in seq_lists if sl
                                                                       for s in sl}
            length = lens.pop() if len(lens) == 1 else arch_cls().seq_len
            pos_list = [e if e is not None else s for e, s in zip(encoded, seq_lists)]
        T = len(pos_list)
        groups = []
        for t, p in enumerate(pos_list):
            Xp = _encode(p, length, "positives")
            yp = torch.zeros((len(Xp), T))
            yp[:, t] = 1
            groups.append((Xp, yp, _split_indices(len(Xp), (val_fraction, test_fraction), rng)))
        split_info = dict(split="sequence")
        if negatives is None and not shuffles:
            shuffles = 1
        neg_sources = []
        if negatives is not None:
            Xn = _encode(negatives, length, "negatives")
            neg_sources.append((Xn, torch.zeros((len(Xn), T)), _split_indices(len(Xn), (val_fraction,
                                                                                         test_fraction), rng)))

    # dinucleotide-shuffled negatives, each in its source's split
    if shuffles:
        from ..sequence import dinucleotide_shuffle

        for Xp, yp, (tr, va, te) in list(groups):
            Xs = dinucleotide_shuffle(Xp, n=int(shuffles), random_state=rng)          # (N, n, 4, L)
            k = int(shuffles)
            Xs = Xs.reshape(-1, 4, Xp.shape[-1])
            expand = (lambda idx: (idx[:, None] * k + np.arange(k)[None]).ravel())
            neg_sources.append((Xs, torch.zeros((len(Xs), yp.shape[1])), (expand(tr), expand(va), expand(te))))
    sources = groups + neg_sources

    def gather(part):
        X = torch.cat([src[0][torch.as_tensor(src[2][part], dtype=torch.long)] for src in sources])
        y = torch.cat([src[1][torch.as_tensor(src[2][part], dtype=torch.long)] for src in sources])
        return X, y

    (X_tr, y_tr), (X_va, y_va), (X_te, y_te) = gather(0), gather(1), gather(2)
    T = y_tr.shape[1]
    if len(X_va) == 0:
        raise ValueError("the validation set is empty: raise val_fraction or give val_chroms")
    if (y_tr.sum(0) == 0).any() or (y_tr.sum(0) == len(y_tr)).any():
        raise ValueError("every task needs positive and negative training examples")
    if task_names is not None and len(task_names) != T:
        raise ValueError(f"{len(task_names)} task names for {T} tasks")

    kwargs = dict(arch_kwargs or {})
    kwargs.setdefault("n_targets", T)
    kwargs.setdefault("seq_len", int(X_tr.shape[-1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = arch_cls(**kwargs)
    result = fit(model, X_tr, y_tr, X_va, y_va, epochs=epochs, patience=patience, batch_size=batch_size, lr=lr,
                 weight_decay=weight_decay, rc_augment=rc_augment, seed=seed, device=device, progress=progress,
                 num_threads=num_threads)
    device_used = next(model.parameters()).device
    test_auc, test_per_task = float("nan"), [float("nan")] * T
    if len(X_te):
        scores = _predict(model, X_te, 256, device_used)
        test_auc, test_per_task = _mean_auroc(y_te.numpy(), scores.numpy())
    metrics = dict(
        result,
        test_auroc=test_auc,
        test_auroc_per_task=test_per_task,
        n_train=len(X_tr), n_val=len(X_va), n_test=len(X_te),
        n_positive_train=y_tr.sum(0).int().tolist(),
        tasks=list(task_names) if task_names else [f"task{t}" for t in range(T)],
        settings=dict(arch=arch_cls.arch, arch_kwargs=model.config, length=int(X_tr.shape[-1]), epochs=epochs,
                      patience=patience, seed=seed, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                      val_fraction=val_fraction, test_fraction=test_fraction, rc_augment=rc_augment,
                      shuffles=int(shuffles or 0), **split_info),
    )
    metrics = finite_json(metrics)
    model = model.eval()
    if out_dir is not None:
        save(model, out_dir, metadata=dict(tasks=metrics["tasks"], best_epoch=metrics["best_epoch"],
                                           best_val_auroc=metrics["best_val_auroc"],
                                           test_auroc=metrics["test_auroc"], training=metrics["settings"]))
        with atomic_open(out_dir / "metrics.json", "w") as fh:
            json.dump(metrics, fh, indent=2)
            fh.write("\n")
    return TrainingResult(model=model, metrics=metrics, directory=out_dir)


#: Settings of the shipped CTCF model (see docs/models.md).
CTCF_SETTINGS = dict(arch="small_cnn", length=200, shuffles=1, epochs=30, patience=5, batch_size=64, lr=3e-3,
                     val_fraction=0.2, test_fraction=0.2)


def train_ctcf_model(out_dir=None, seed=0, positives=None, progress=False, device="cpu", **overrides):
    """Train the demo CTCF model: SmallCNN on the shipped GM12878 CTCF peaks vs shuffles.

    500 peak windows of 200 bp (``sparselrp.data.ctcf_peaks_fasta()``) against one
    dinucleotide shuffle of each; 60/20/20 train/validation/test split by sequence.

    Parameters
    ----------
    out_dir : str or Path, optional
        Where to write the model directory and ``metrics.json``.
    seed : int, default 0
    positives : str or Path, optional
        Another peaks FASTA (default: the shipped one).
    progress : bool, default False
    device : str, default "cpu"
        CPU keeps the result bit-reproducible across machines with the same thread count.
    **overrides
        Any :func:`train` argument, replacing ``CTCF_SETTINGS``.

    Returns
    -------
    TrainingResult
        ``metrics["test_auroc"]`` is the held-out AUROC.
    """
    if positives is None:
        from ..data import ctcf_peaks_fasta

        positives = ctcf_peaks_fasta()
    settings = dict(CTCF_SETTINGS, **overrides)
    return train(positives=positives, out_dir=out_dir, seed=seed, progress=progress, device=device,
                 task_names=["CTCF"], **settings)
