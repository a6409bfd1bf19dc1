"""From sparse attributions to motifs: seqlets, discovery, JASPAR matching.

>>> from sparselrp.motifs import find_seqlets, discover_motifs, match_jaspar
>>> seqlets = find_seqlets(R, X)                           # doctest: +SKIP
>>> motifs = match_jaspar(discover_motifs(seqlets, X, R))  # doctest: +SKIP
"""

from .discovery import discover_motifs
from .jaspar import benjamini_hochberg, jaspar_releases, load_jaspar, match_jaspar, tomtom_pvalues
from .motif import Motif, information_content
from .seqlets import Seqlets, default_threshold, find_seqlets

__all__ = [
    "Motif",
    "Seqlets",
    "benjamini_hochberg",
    "default_threshold",
    "discover_motifs",
    "find_seqlets",
    "information_content",
    "jaspar_releases",
    "load_jaspar",
    "match_jaspar",
    "tomtom_pvalues",
]
