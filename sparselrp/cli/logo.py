"""``sparselrp logo``: attribution logos of the top sequences, one file each."""

import click

from ._common import main, progress_enabled


def _load_inputs(attr, ohe, dense_attr=None):
    """(OneHot, R (N, 4, L) numpy, R_dense or None), shapes checked against each other."""
    from ..io.attributions import load_attributions
    from ..io.onehot import load_onehot

    seqs = load_onehot(ohe)
    X = seqs.X.numpy()
    R = load_attributions(attr).numpy()
    if R.shape != X.shape:
        raise ValueError(f"{attr}: attributions of shape {tuple(R.shape)} do not match the one-hot "
                         f"file {ohe} of shape {tuple(X.shape)}")
    R_dense = None
    if dense_attr is not None:
        R_dense = load_attributions(dense_attr).numpy()
        if R_dense.shape != X.shape:
            raise ValueError(f"{dense_attr}: attributions of shape {tuple(R_dense.shape)} do not match the "
                             f"one-hot file {ohe} of shape {tuple(X.shape)}")
    return seqs, R, R_dense


def select_sequences(R, n, sort="relevance"):
    """Indices of the sequences to show.

    Parameters
    ----------
    R : numpy.ndarray, shape (N, 4, L)
        Attribution maps.
    n : int
        How many (at most N).
    sort : {"relevance", "index"}
        ``relevance``: largest total relevance first (the explained output, under
        rules that conserve relevance; ties by index); ``index``: file order.

    Returns
    -------
    numpy.ndarray of int, shape (min(n, N),)
    """
    import numpy as np

    N = R.shape[0]
    if sort == "index":
        return np.arange(min(n, N))
    total = R.reshape(N, -1).sum(axis=1)
    return np.lexsort((np.arange(N), -total))[:n]


@main.command("logo")
@click.option("-a", "--attributions", "attr", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Attributions .npz (N, 4, L), e.g. pruned LRP from `sparselrp attribute`.")
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(exists=True, dir_okay=False),
              help="One-hot .npz the attributions were computed on.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for the logo files (created if missing).")
@click.option("--n", "n", type=click.IntRange(min=1), default=10, help="Number of sequences to draw.")
@click.option("--sort", type=click.Choice(["relevance", "index"]), default="relevance",
              help="Which sequences: largest total relevance first, or file order.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"]), default="png", help="File format.")
@click.option("--dense-attr", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Unpruned attributions: each file then shows LRP above pruned LRP.")
@click.option("--crop", type=click.IntRange(min=0), default=80,
              help="Window width around the most relevant region (0: the whole sequence).")
@click.option("--dpi", type=click.IntRange(min=20), default=100, help="Resolution of PNG files.")
def logo(attr, ohe, out_dir, n, sort, fmt, dense_attr, crop, dpi):
    """Draw attribution logos: letter height = the position's relevance on the observed base."""
    from ..plot.logos import write_attribution_logos

    seqs, R, R_dense = _load_inputs(attr, ohe, dense_attr)
    idx = select_sequences(R, n, sort)
    X = seqs.X.numpy()[idx]
    names = [f"{seqs.names[i]}" for i in idx]
    paths = write_attribution_logos(X, R[idx], out_dir, names=names, fmt=fmt,
                                    R_dense=None if R_dense is None else R_dense[idx],
                                    crop=crop or None, dpi=dpi, progress=progress_enabled())
    click.echo(f"wrote {len(paths)} logos to {out_dir}", err=True)
