"""Real genomic data shipped with sparselrp (see ``README.md`` in this folder).

Each function returns the :class:`pathlib.Path` of an installed file:

- :func:`ctcf_peaks_fasta`: 500 CTCF ChIP-seq peaks (GM12878, hg19), 200 bp,
  soft-masked, records named ``chrom:start-end`` (gimmemotifs, MIT).
- :func:`ctcf_peaks_bed`: the same peaks as BED3.
- :func:`chr17_fasta`: the first 40 kb of hg19 chr17, with its ``.fai`` index
  (pyfaidx test data, BSD-3-Clause).
- :func:`gene_bed`: a six-exon minus-strand gene on that fragment (BED12).

>>> from sparselrp import data
>>> data.chr17_fasta().name
'chr17_hg19_part.fa'
"""

from pathlib import Path

__all__ = ["path", "files", "ctcf_peaks_fasta", "ctcf_peaks_bed", "chr17_fasta", "gene_bed"]

_DIR = Path(__file__).resolve().parent


def files():
    """Names of the shipped data files (licences and README included).

    Returns
    -------
    list of str
    """
    return sorted(p.name for p in _DIR.iterdir() if p.is_file() and not p.name.startswith(("_", ".")))


def path(name):
    """Path of a shipped data file.

    Parameters
    ----------
    name : str
        File name, e.g. ``"gene.bed12"`` (see :func:`files`).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        No such shipped file; the message lists the available ones.
    """
    name = str(name)
    p = _DIR / name
    if "/" in name or "\\" in name or name.startswith(".") or not p.is_file():
        raise FileNotFoundError(2, f"no shipped data file {name!r}; available: {', '.join(files())}", name)
    return p


def ctcf_peaks_fasta():
    """FASTA of the 500 strongest GM12878 CTCF peaks (200 bp, hg19, soft-masked)."""
    return path("ctcf_gm12878_top500_w200.fa")


def ctcf_peaks_bed():
    """BED3 of the same 500 CTCF peaks (hg19, same order as the FASTA)."""
    return path("ctcf_gm12878_top500_w200.bed")


def chr17_fasta():
    """FASTA of the first 40 kb of hg19 chr17 (record ``chr17``), indexed (``.fai`` beside it)."""
    return path("chr17_hg19_part.fa")


def gene_bed():
    """BED12 of one six-exon minus-strand gene (uc010vpx.1) on the chr17 fragment."""
    return path("gene.bed12")
