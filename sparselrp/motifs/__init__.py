"""From attributions to motifs: tfmodisco-lite discovery, JASPAR matching, seqlet tables.

>>> import sparselrp as sl
>>> H = sl.plrp(model, X, target=0, hypothetical=True)     # doctest: +SKIP
>>> motifs = sl.motifs.discover(X, H)                      # doctest: +SKIP
>>> motifs = sl.motifs.match_jaspar(motifs)                # doctest: +SKIP

:func:`discover` is tfmodisco-lite (its own seqlet calling by default; ``null="nonzero"``
for sparse maps with background, see :mod:`sparselrp.motifs.modisco`). :func:`find_seqlets` calls per-position seqlets for
browsing (BED/TSV); :func:`discover_motifs` is the greedy clusterer of sparselrp 0.1,
kept only for comparison in ``benchmarks/motifs.py`` (it merges most seqlets into one
low-information cluster on real maps; see docs/motifs.md) and no longer used by any
command.
"""

from .discovery import discover_motifs
from .jaspar import benjamini_hochberg, jaspar_releases, load_jaspar, load_meme_db, match_jaspar, tomtom_pvalues
from .modisco import DEFAULTS, TooFewSeqletsError, call_seqlets, discover, is_projected
from .motif import Motif, information_content
from .seqlets import Seqlets, default_threshold, find_seqlets

__all__ = [
    "DEFAULTS",
    "Motif",
    "Seqlets",
    "TooFewSeqletsError",
    "benjamini_hochberg",
    "call_seqlets",
    "default_threshold",
    "discover",
    "discover_motifs",
    "find_seqlets",
    "information_content",
    "is_projected",
    "jaspar_releases",
    "load_jaspar",
    "load_meme_db",
    "match_jaspar",
    "tomtom_pvalues",
]
