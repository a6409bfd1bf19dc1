"""``sparselrp merge``: concatenate per-shard outputs (attributions or one-hot) in order.

Attribution files are merged by :func:`sparselrp.io.attributions.merge_attributions`
(sparse or dense). One-hot files, and dense npz files in general, are
concatenated member by member with :func:`concat_npz`, which streams each input
block by block into the output zip, so memory is set by the block, not by the
merged size.
"""

import zipfile
from pathlib import Path

import click
import numpy as np

from .._atomic import atomic_path
from ..errors import InputFormatError
from ._common import main

__all__ = ["concat_npz"]


def _members(path):
    from ..io.npz_stream import _CORRUPT, _why, npz_member_info

    try:
        with zipfile.ZipFile(path) as zf:
            names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    except zipfile.BadZipFile:
        raise InputFormatError("not an .npz file (or a damaged one); re-create it", path) from None
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (IsADirectoryError, PermissionError):
        raise
    except _CORRUPT as exc:
        raise InputFormatError(f"not a readable .npz file ({_why(exc)}); re-create it", path) from None
    return {k: npz_member_info(path, k) for k in names}


def _load_member(path, key):
    """One whole (small) member of an npz, with a damaged file named in one line."""
    from ..io.npz_stream import _CORRUPT, _why

    try:
        with np.load(path, allow_pickle=False) as z:
            return z[key]
    except ValueError as exc:
        raise InputFormatError(f"member {key!r} is unreadable ({_why(exc)})", path) from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except _CORRUPT as exc:
        raise InputFormatError(f"member {key!r} is corrupt ({_why(exc)}); re-create the file", path) from None


def concat_npz(paths, out, key="arr_0", compressed=True, batch_size=1024, progress=False):
    """Concatenate ``.npz`` files along the first axis, streaming.

    Members whose first axis has one entry per row of ``key`` in every file
    (``arr_0``, names, chrom/start/end/strand, ...) are concatenated in the
    order of ``paths``; any other member (metadata) must be equal in all files
    and is copied once. String members of different widths are widened.

    Parameters
    ----------
    paths : sequence of str or Path
        Input ``.npz`` files, each with member ``key`` of shape (N_i, ...).
    out : str or Path
        Output ``.npz``, written atomically.
    key : str
        The member that defines the rows.
    compressed : bool
        Deflate the output members.
    batch_size : int
        Rows decoded at a time.
    progress : bool or str
        Report the rows of ``key`` copied (:func:`sparselrp.progress.progress_bar`).

    Returns
    -------
    tuple of int
        Shape of the merged ``key`` member, (sum N_i, ...).
    """
    from ..io.npz_stream import iter_npz_rows
    from ..progress import NullProgress, progress_bar

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("nothing to merge: no input files")
    infos = [_members(p) for p in paths]
    for p, info in zip(paths, infos):
        if key not in info:
            raise InputFormatError(f"no array {key!r} in file", p)
    rows = [info[key][0][0] for info in infos]
    tail = infos[0][key][0][1:]
    for p, info in zip(paths, infos):
        if info[key][0][1:] != tail:
            raise InputFormatError(f"array {key!r} has shape {info[key][0]}, expected (N,{', '.join(map(str, tail))})"
                                   f" like {paths[0].name}", p)
    names = list(infos[0])
    for p, info in zip(paths, infos):
        if set(info) != set(names):
            raise InputFormatError(f"members {sorted(info)} differ from {sorted(names)} of {paths[0].name}", p)
    per_row = [k for k in names
               if all(len(info[k][0]) >= 1 and info[k][0][0] == n for info, n in zip(infos, rows))]
    compression = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    out = Path(out)
    with atomic_path(out, suffix=".npz") as tmp:
        with zipfile.ZipFile(tmp, "w", compression=compression, allowZip64=True) as zf:
            for k in names:
                if k in per_row:
                    dtypes = [info[k][1] for info in infos]
                    if any(d.hasobject for d in dtypes):
                        raise InputFormatError(f"member {k!r} holds Python objects", paths[0])
                    dtype = np.result_type(*dtypes)
                    shape = (sum(rows),) + tuple(infos[0][k][0][1:])
                    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
                    # progress counts the rows of `key` (the bulk); the other per-row members are small
                    bar = progress_bar(progress, total=sum(rows), desc="merge", unit="rows") if k == key \
                        else NullProgress()
                    with bar, zf.open(k + ".npy", "w", force_zip64=True) as fh:
                        np.lib.format.write_array_header_2_0(fh, header)
                        for p in paths:
                            for block in iter_npz_rows(p, k, batch_size=batch_size):
                                fh.write(np.ascontiguousarray(block.astype(dtype, copy=False)).tobytes())
                                bar.update(len(block))
                else:
                    ref = _load_member(paths[0], k)
                    for p in paths[1:]:
                        if not np.array_equal(_load_member(p, k), ref):
                            raise InputFormatError(f"member {k!r} differs from that of {paths[0].name}", p)
                    with zf.open(k + ".npy", "w", force_zip64=True) as fh:
                        np.lib.format.write_array(fh, ref, allow_pickle=False)
    return (sum(rows),) + tuple(tail)


@main.command("merge")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="Merged .npz file.")
@click.option("--kind", type=click.Choice(["attributions", "onehot"]), default="attributions",
              help="What the inputs hold: attribution files (sparse or dense) or one-hot npz files.")
@click.option("--sparse/--dense", default=True,
              help="Attributions only: write the merged file in sparse form, or as the dense "
                   "np.savez_compressed arr_0 (N, 4, L) that TF-MoDISco reads.")
def merge_command(inputs, output, kind, sparse):
    """Concatenate per-shard INPUTS, in the order given, into one file.

    Shards made by `sparselrp shard` hold consecutive records, so merging them
    in shard order gives the same rows as one unsharded run.
    """
    if kind == "onehot":
        shape = concat_npz(inputs, output, progress=True)
    else:
        from ..io.attributions import merge_attributions

        merge_attributions(list(inputs), output, sparse=sparse, progress=True)
        shape = None
    if shape is not None:
        click.echo(f"merged {len(inputs)} files: {shape[0]} rows -> {output}", err=True)
