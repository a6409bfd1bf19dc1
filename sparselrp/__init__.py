"""sparselrp: sparse nucleotide attributions with pruned layer-wise relevance propagation."""

__version__ = "0.1.0"
