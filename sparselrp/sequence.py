"""DNA sequences as one-hot tensors: encode, decode, reverse complement, shuffle.

One-hot tensors have rows A, C, G, T: a single sequence is ``(4, L)`` and a
batch is ``(N, 4, L)``, ``torch.float32`` unless ``dtype=`` says otherwise. An
unknown base (N) is a column of ``n_value`` (0 by default, i.e. all-zero).

Every operation is vectorised with NumPy: characters become codes through a
256-entry lookup table over the sequence's bytes, so encoding costs a few
array passes however long the sequence is.

>>> import sparselrp as sl
>>> X = sl.one_hot_encode("ACGTN")
>>> tuple(X.shape)
(4, 5)
>>> sl.decode(sl.reverse_complement(X))
'NACGT'
"""

import numpy as np
import torch

__all__ = [
    "one_hot_encode",
    "one_hot_encode_batch",
    "decode",
    "reverse_complement",
    "dinucleotide_shuffle",
    "IUPAC_CODES",
]

#: IUPAC ambiguity codes other than N (upper case; lower case is accepted too).
IUPAC_CODES = "RYSWKMBDHV"

# Character codes: 0-3 = A, C, G, T; 4 = N; 5 = other IUPAC code; 6 = invalid.
_N, _IUPAC, _INVALID = 4, 5, 6
_CODE = np.full(256, _INVALID, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _i
_CODE[ord("N")] = _CODE[ord("n")] = _N
for _b in IUPAC_CODES:
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _IUPAC

# Complement of every valid character (case kept); 0 marks an invalid byte.
_COMPLEMENT = np.zeros(256, dtype=np.uint8)
for _a, _c in zip("ACGTNRYSWKMBDHV", "TGCANYRSWMKVHDB"):
    _COMPLEMENT[ord(_a)] = ord(_c)
    _COMPLEMENT[ord(_a.lower())] = ord(_c.lower())

_DECODE = np.frombuffer(b"ACGTN", dtype=np.uint8)


def _check_options(n_value, iupac):
    if iupac not in ("error", "n"):
        raise ValueError(f"iupac must be 'error' or 'n', not {iupac!r}")
    try:
        n_value = float(n_value)
    except (TypeError, ValueError):
        raise ValueError(f"n_value must be a number, not {n_value!r}") from None
    if not np.isfinite(n_value):
        raise ValueError(f"n_value must be finite, not {n_value!r}")
    return n_value


def _as_bytes(seq, where=""):
    """Return the sequence as bytes; non-ASCII characters raise ValueError."""
    if isinstance(seq, str):
        try:
            return seq.encode("ascii")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"{where}invalid character {seq[exc.start]!r} at position {exc.start} (0-based)"
            ) from None
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return bytes(seq)
    raise TypeError(f"{where}expected a DNA sequence as str or bytes, not {type(seq).__name__}")


def _bad_char_message(buf, pos, code, iupac):
    ch = chr(buf[pos])
    if code == _IUPAC and iupac == "error":
        return (
            f"IUPAC ambiguity code {ch!r} at position {pos} (0-based) is not A, C, G, T or N; "
            "pass iupac='n' (CLI: --iupac n) to treat it as N"
        )
    return f"invalid character {ch!r} at position {pos} (0-based); expected A, C, G, T or N"


def _codes(buf, iupac):
    """Codes 0-4 of a uint8 array; the first bad byte's flat index and code, or None."""
    codes = _CODE[buf]
    limit = _IUPAC if iupac == "error" else _INVALID
    if codes.size and codes.max() >= limit:
        pos = int(np.flatnonzero(codes >= limit)[0])
        return codes, (pos, int(codes[pos]))
    if iupac == "n":
        codes[codes == _IUPAC] = _N
    return codes, None


def _codes_to_onehot(codes, n_value, dtype):
    """One-hot of codes ``(..., L)`` -> tensor ``(..., 4, L)``."""
    X = codes[..., None, :] == np.arange(4, dtype=np.uint8)[:, None]
    X = X.astype(np.float32)
    if n_value != 0.0:
        is_n = codes == _N
        if is_n.any():
            X[np.broadcast_to(is_n[..., None, :], X.shape)] = n_value
    return torch.from_numpy(X).to(dtype)


def one_hot_encode(seq, n_value=0.0, iupac="error", dtype=torch.float32):
    """One-hot encode one DNA sequence.

    Parameters
    ----------
    seq : str or bytes
        The sequence, length ``L``. Upper and lower case (soft-masked) bases
        are accepted.
    n_value : float
        Value of the four rows at an N (0.0: an all-zero column; 0.25 is the
        usual alternative).
    iupac : {"error", "n"}
        What to do with the other IUPAC ambiguity codes (R, Y, S, W, K, M, B,
        D, H, V): raise ``ValueError`` or treat them as N.
    dtype : torch.dtype
        Tensor dtype.

    Returns
    -------
    torch.Tensor
        Shape ``(4, L)``, rows A, C, G, T.

    Raises
    ------
    ValueError
        A character that is not a base, naming it and its 0-based position.
    """
    n_value = _check_options(n_value, iupac)
    buf = np.frombuffer(_as_bytes(seq), dtype=np.uint8)
    codes, bad = _codes(buf, iupac)
    if bad is not None:
        raise ValueError(_bad_char_message(buf, bad[0], bad[1], iupac))
    return _codes_to_onehot(codes, n_value, dtype)


def one_hot_encode_batch(seqs, length=None, n_value=0.0, iupac="error", dtype=torch.float32):
    """One-hot encode several DNA sequences into one tensor.

    Parameters
    ----------
    seqs : iterable of str or bytes
        ``N`` sequences.
    length : int, optional
        Common length ``L``. Longer sequences are cropped and shorter ones
        padded with N columns, both centred (when the difference is odd, the
        extra base is cropped from / padded on the right). Without it all
        sequences must have the same length.
    n_value : float
        Value of the four rows at an N, padding included.
    iupac : {"error", "n"}
        Other IUPAC codes: raise ``ValueError`` or treat them as N.
    dtype : torch.dtype
        Tensor dtype.

    Returns
    -------
    torch.Tensor
        Shape ``(N, 4, L)``.

    Raises
    ------
    ValueError
        Unequal lengths without ``length=`` (naming the first sequence whose
        length differs from sequence 0's), or a bad character (naming the
        sequence index, the character and its 0-based position). Characters
        are checked over the whole sequence, including any cropped part.
    """
    n_value = _check_options(n_value, iupac)
    if isinstance(seqs, (str, bytes)):
        raise TypeError("one_hot_encode_batch expects a list of sequences, not a single sequence")
    if length is not None:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(f"length must be a non-negative integer, not {length!r}")
        length = int(length)
    parts = [_as_bytes(s, where=f"sequence {i}: ") for i, s in enumerate(seqs)]
    lens = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    n = len(parts)
    if n == 0:
        return torch.zeros((0, 4, length or 0), dtype=dtype)
    buf = np.frombuffer(b"".join(parts), dtype=np.uint8)
    codes, bad = _codes(buf, iupac)
    offsets = np.concatenate([[0], np.cumsum(lens)])
    if bad is not None:
        i = int(np.searchsorted(offsets, bad[0], side="right") - 1)
        raise ValueError(
            f"sequence {i}: " + _bad_char_message(buf[offsets[i]:], bad[0] - offsets[i], bad[1], iupac)
        )
    if length is None:
        mismatch = np.flatnonzero(lens != lens[0])
        if mismatch.size:
            i = int(mismatch[0])
            raise ValueError(
                f"sequence {i} has length {lens[i]} but sequence 0 has length {lens[0]}; "
                "pass length= (CLI: --length) to pad or crop them to one length"
            )
        L = int(lens[0])
        grid = codes.reshape(n, L)
    else:
        L = length
        pad_left = np.maximum((L - lens) // 2, 0)
        crop_left = np.maximum((lens - L) // 2, 0)
        j = np.arange(L)[None, :] - pad_left[:, None]  # index into the kept part
        valid = (j >= 0) & (j < np.minimum(lens, L)[:, None])
        src = np.where(valid, offsets[:-1, None] + crop_left[:, None] + j, 0)
        grid = np.where(valid, codes[src] if codes.size else _N, _N).astype(np.uint8)
    return _codes_to_onehot(grid, n_value, dtype)


def _to_numpy(X, name="X"):
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        if X.dtype in (torch.bfloat16,) or X.dtype.is_complex:
            X = X.float()
        return X.numpy()
    if isinstance(X, np.ndarray):
        return X
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, not {type(X).__name__}")


def decode(X):
    """Turn one-hot columns back into bases.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` or ``(4, L)``. Each column becomes the base of its
        largest row; a column without a unique largest row (all-zero, uniform,
        NaN) becomes ``"N"``.

    Returns
    -------
    list of str or str
        ``N`` upper-case strings of length ``L``; a single string for a
        ``(4, L)`` input.
    """
    A = _to_numpy(X)
    if A.ndim not in (2, 3) or A.shape[-2] != 4:
        raise ValueError(f"decode expects shape (N, 4, L) or (4, L), got {tuple(A.shape)}")
    single = A.ndim == 2
    if single:
        A = A[None]
    A = A.astype(np.float64, copy=False)
    idx = np.argmax(A, axis=1)
    top = np.max(A, axis=1)
    ties = (A == top[:, None, :]).sum(axis=1) != 1
    idx = np.where(ties | np.isnan(top), _N, idx)
    chars = _DECODE[idx]
    out = [row.tobytes().decode("ascii") for row in chars]
    return out[0] if single else out


def reverse_complement(X):
    """Reverse complement a one-hot tensor or a sequence string.

    Parameters
    ----------
    X : torch.Tensor, numpy.ndarray or str
        ``(N, 4, L)`` or ``(4, L)`` one-hot (rows A, C, G, T, so the reverse
        complement is a flip of the last two dimensions), or a DNA string
        (IUPAC codes complemented, case kept).

    Returns
    -------
    Same type and shape as ``X``.
    """
    if isinstance(X, str):
        buf = np.frombuffer(_as_bytes(X), dtype=np.uint8)
        comp = _COMPLEMENT[buf]
        if comp.size and not comp.all():
            pos = int(np.flatnonzero(comp == 0)[0])
            raise ValueError(f"invalid character {X[pos]!r} at position {pos} (0-based)")
        return comp[::-1].tobytes().decode("ascii")
    if isinstance(X, torch.Tensor):
        if X.dim() < 2 or X.shape[-2] != 4:
            raise ValueError(f"reverse_complement expects shape (N, 4, L) or (4, L), got {tuple(X.shape)}")
        return X.flip(-2, -1)
    if isinstance(X, np.ndarray):
        if X.ndim < 2 or X.shape[-2] != 4:
            raise ValueError(f"reverse_complement expects shape (N, 4, L) or (4, L), got {X.shape}")
        return np.ascontiguousarray(X[..., ::-1, ::-1])
    raise TypeError(f"reverse_complement expects a tensor, array or str, not {type(X).__name__}")


def _rng(random_state):
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    raise TypeError(f"random_state must be None, an int or a numpy Generator, not {type(random_state).__name__}")


def _last_edge_tree(C, root, rng):
    """Random last-exit arborescence of each segment's de Bruijn multigraph.

    Wilson's algorithm, vectorised over segments: for every vertex that is not
    the root and has out-edges, pick the edge by which the walk leaves it for
    the last time, uniformly among its (non-self-loop) out-edges conditioned on
    the picks forming a tree that points to ``root``.

    C : (K, 4, 4) edge counts; root : (K,) last base. Returns nxt (K, 4): the last exit
    of each vertex, -1 for the root and vertices without exits.
    """
    K = C.shape[0]
    ar = np.arange(K)
    W = C.astype(np.float64)
    W[:, np.arange(4), np.arange(4)] = 0.0  # self-loops are never a last exit
    cum = np.cumsum(W, axis=2)
    in_tree = cum[:, :, -1] == 0  # no way out: root or absent vertex
    in_tree[ar, root] = True
    nxt = np.full((K, 4), -1, dtype=np.int64)
    for u in range(4):
        start = np.flatnonzero(~in_tree[:, u])
        ks, cur = start, np.full(start.size, u)
        while ks.size:  # loop-erased random walk until the tree is hit
            c = cum[ks, cur]
            r = rng.random(ks.size) * c[:, -1]
            v = (c <= r[:, None]).sum(axis=1)
            nxt[ks, cur] = v
            keep = ~in_tree[ks, v]
            ks, cur = ks[keep], v[keep]
        ks, cur = start, np.full(start.size, u)
        while ks.size:  # add the loop-erased path to the tree
            in_tree[ks, cur] = True
            cur = nxt[ks, cur]
            keep = ~in_tree[ks, cur]
            ks, cur = ks[keep], cur[keep]
    return nxt


def _shuffle_symbols(sym, rng):
    """Dinucleotide shuffle of symbol rows ``(B, L)`` (0-3 bases, 4 = N kept in place)."""
    B, L = sym.shape
    flat = sym.reshape(-1)
    out = flat.copy()
    is_base = flat < 4
    row_start = np.zeros(flat.size, dtype=bool)
    row_start[::L] = True
    # next_base[p]: position p + 1 is a base of the same row as p
    next_base = np.zeros(flat.size, dtype=bool)
    next_base[:-1] = is_base[1:] & ~row_start[1:]
    prev_base = np.zeros(flat.size, dtype=bool)
    prev_base[1:] = is_base[:-1] & ~row_start[1:]
    starts = np.flatnonzero(is_base & ~prev_base)  # maximal runs of bases
    ends = np.flatnonzero(is_base & ~next_base)  # inclusive, same order
    lens = ends - starts + 1
    long_run = lens >= 3  # runs of 1 or 2 bases cannot change
    if not long_run.any():
        return out.reshape(B, L)
    # dinucleotide counts of every run: C[k, u, v] = number of u -> v steps
    idt = np.int32 if starts.size * 16 < 2**31 else np.int64
    key = np.cumsum(is_base & ~prev_base, dtype=idt)  # 1 + run index of every base
    key -= 1
    key *= 16
    key += flat * 4 if idt is np.int64 else (flat * np.uint8(4)).astype(idt)
    key[:-1] += flat[1:]
    key = key[is_base & next_base]
    C = np.bincount(key, minlength=starts.size * 16).reshape(-1, 4, 4)[long_run]
    starts, ends, m = starts[long_run], ends[long_run], lens[long_run]
    K = starts.size
    last = _last_edge_tree(C, flat[ends].astype(np.int64), rng)
    # exits still free for the random part of the walk: all but the last exit
    rem = C.copy()
    has_last = last >= 0
    kk, uu = np.nonzero(has_last)
    rem[kk, uu, last[kk, uu]] -= 1
    # walk every run at once, longest first so that the active ones are a prefix;
    # from each vertex take a uniformly random free exit, the last exit when none is left
    by_len = np.argsort(-m, kind="stable")
    seg_start, seg_len = starts[by_len], m[by_len]
    remT = np.ascontiguousarray(rem[by_len].reshape(K * 4, 4).T)  # (4, K*4): [v, 4k + u]
    last = last[by_len].reshape(-1)
    base = np.arange(K, dtype=np.int64) * 4
    cur = flat[seg_start].astype(np.int64)
    longest = int(seg_len[0])
    n_active = np.searchsorted(-seg_len, -np.arange(longest), side="left")
    for t in range(1, longest):
        a = int(n_active[t])
        idx = base[:a] + cur[:a]
        c0 = remT[0, idx]
        c1 = c0 + remT[1, idx]
        c2 = c1 + remT[2, idx]
        c3 = c2 + remT[3, idx]
        x = rng.random(a) * c3
        nv = (c0 <= x).astype(np.int64)
        nv += c1 <= x
        nv += c2 <= x
        free = c3 > 0
        nv = np.where(free, nv, last[idx])
        remT[nv, idx] -= free
        out[seg_start[:a] + t] = nv
        cur[:a] = nv
    return out.reshape(B, L)


def dinucleotide_shuffle(X, n=1, random_state=None):
    """Shuffle one-hot sequences keeping their dinucleotide counts exactly.

    The Altschul-Erickson algorithm: a random Eulerian walk through the
    sequence's de Bruijn multigraph (vertices = bases, one edge per adjacent
    pair) from its first base to its last. The last exit from each vertex is
    drawn first as a random tree pointing to the last base (Wilson's
    algorithm), the other exits are put in random order, then the walk is
    replayed. Every shuffle keeps the counts of all 16 dinucleotides, the
    base composition and the first and last base.

    N handling: a column that is not exactly one-hot (an N, padding) stays
    where it is, copied unchanged; each maximal run of bases between N
    columns is shuffled on its own, so dinucleotides that touch an N are kept
    as well.

    The walk is vectorised over all sequences and runs (a NumPy step per
    position of the longest run), so batches are cheap; a single very long
    sequence costs a Python-level step per base.

    Parameters
    ----------
    X : torch.Tensor or numpy.ndarray
        ``(N, 4, L)`` one-hot, or ``(4, L)`` for one sequence.
    n : int
        Shuffles per sequence.
    random_state : None, int or numpy.random.Generator
        Seed; the same seed gives the same shuffles.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``(N, n, 4, L)`` (``(n, 4, L)`` for a ``(4, L)`` input), same type,
        dtype and device as ``X``.
    """
    A = _to_numpy(X)
    if A.ndim not in (2, 3) or A.shape[-2] != 4:
        raise ValueError(f"dinucleotide_shuffle expects shape (N, 4, L) or (4, L), got {tuple(A.shape)}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, not {n!r}")
    rng = _rng(random_state)
    single = A.ndim == 2
    if single:
        A = A[None]
    N, _, L = A.shape
    # symbol of every column: 0-3 for an exact one-hot column, 4 (N) otherwise
    total = np.zeros((N, L), dtype=np.float64)
    binary = np.ones((N, L), dtype=bool)
    sym = np.zeros((N, L), dtype=np.uint8)
    for r in range(4):
        row = A[:, r, :]
        total += row
        binary &= (row == 0) | (row == 1)
        sym[row == 1] = r
    sym[~(binary & (total == 1))] = _N
    new = _shuffle_symbols(np.repeat(sym, n, axis=0), rng).reshape(N, n, L) if N * L else np.repeat(sym, n, axis=0).reshape(N, n, L)
    is_base = new < 4
    out = np.empty((N, n, 4, L), dtype=A.dtype)
    for r in range(4):
        out[:, :, r, :] = np.where(is_base, new == r, A[:, None, r, :])
    if single:
        out = out[0]
    if isinstance(X, torch.Tensor):
        return torch.from_numpy(np.ascontiguousarray(out)).to(device=X.device, dtype=X.dtype)
    return np.ascontiguousarray(out)
