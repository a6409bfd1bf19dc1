"""``sparselrp report``: the self-contained HTML report of a run."""

import math

import click

from ._common import main


def _read_json(path, what):
    from ..errors import InputFormatError
    from ..io.jsonfile import read_json

    doc = read_json(path, what)
    if not isinstance(doc, dict):
        raise InputFormatError(f"{what} must be a JSON object, found {type(doc).__name__}", path, 1)
    return doc


def _stats_to_report(stats):
    """Split `sparselrp attribute --stats` JSON into summary figures and per-layer sparsity."""
    layers = stats.get("layers") if isinstance(stats.get("layers"), dict) else None
    summary = {k: v for k, v in stats.items() if k != "layers" and not isinstance(v, (dict, list))}
    layer_sparsity = None
    if layers:
        layer_sparsity = {}
        for name, v in layers.items():
            if isinstance(v, dict):
                entry = {}
                for key, label in (("zero_share", "share of zeros"), ("gini", "Gini of |relevance|")):
                    x = v.get(key)
                    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
                        entry[label] = float(x)
                layer_sparsity[str(name)] = entry
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                layer_sparsity[str(name)] = {"share of zeros": float(v)}
    return summary, layer_sparsity


def _coord_label(coords, i):
    if not coords:
        return None
    try:
        chrom, start, end = coords["chrom"][i], int(coords["start"][i]), int(coords["end"][i])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    strand = coords.get("strand")
    s = f"{chrom}:{start}-{end}"
    return s + (f"({strand[i]})" if strand is not None and str(strand[i]) in "+-" else "")


@main.command("report")
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(exists=True, dir_okay=False),
              help="One-hot .npz the attributions were computed on.")
@click.option("-a", "--attributions", "attr", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Attributions .npz (N, 4, L), e.g. pruned LRP.")
@click.option("--dense-attr", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Unpruned attributions, drawn above the pruned logos.")
@click.option("--motifs", "motifs_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Motifs JSON from `sparselrp motifs`.")
@click.option("--seqlets", "seqlets_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Seqlet TSV from `sparselrp seqlets`.")
@click.option("--params", "params_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON object of run parameters to list.")
@click.option("--stats", "stats_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON from `sparselrp attribute --stats`: summary and per-layer sparsity.")
@click.option("--diagnostics", "trust_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="JSON from `sparselrp diagnose`: the trust section.")
@click.option("--top", type=click.IntRange(min=0), default=10,
              help="Sequences with the largest total relevance to draw.")
@click.option("--crop", type=click.IntRange(min=0), default=80,
              help="Logo window width around the most relevant region (0: the whole sequence).")
@click.option("--max-seqlets", type=click.IntRange(min=0), default=500, help="Rows of the seqlet table shown.")
@click.option("--title", default="sparselrp report", help="Page title.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output .html file.")
def report(ohe, attr, dense_attr, motifs_path, seqlets_path, params_path, stats_path, trust_path, top, crop,
           max_seqlets, title, output):
    """Write one self-contained HTML file: parameters, sparsity, logos, motifs, seqlets, trust."""
    from ..plot.report import summarise_attributions, write_report
    from .logo import _load_inputs, select_sequences

    seqs, R, R_dense = _load_inputs(attr, ohe, dense_attr)
    params = _read_json(params_path, "parameter file") if params_path else {}
    params = dict(params)
    params.setdefault("one-hot file", str(ohe))
    params.setdefault("attribution file", str(attr))
    if dense_attr:
        params.setdefault("unpruned attribution file", str(dense_attr))

    summary = summarise_attributions(R, R_dense)
    layer_sparsity = None
    if stats_path:
        stats_summary, layer_sparsity = _stats_to_report(_read_json(stats_path, "stats file"))
        summary.update(stats_summary)

    X = seqs.X.numpy()
    sequences = []
    for i in select_sequences(R, top):
        entry = {"name": seqs.names[i], "X": X[i], "R": R[i]}
        if R_dense is not None:
            entry["R_dense"] = R_dense[i]
        label = _coord_label(seqs.coords, i)
        if label:
            entry["coords"] = label
        sequences.append(entry)

    motifs = []
    if motifs_path:
        from ..io.motifs_json import read_motifs_json

        motifs = read_motifs_json(motifs_path)
    seqlets = None
    if seqlets_path:
        from ..io.seqlets import read_seqlets_tsv

        seqlets = read_seqlets_tsv(seqlets_path).to_records()
    trust = _read_json(trust_path, "diagnostics file") if trust_path else None
    from ..plot.report import motif_examples

    examples = {m.name: motif_examples(m, X, R, names=seqs.names) for m in motifs}

    path = write_report(output, params=params, summary=summary, layer_sparsity=layer_sparsity,
                        sequences=sequences, motifs=motifs, seqlets=seqlets, trust=trust, title=title,
                        crop=crop or None, max_seqlet_rows=max_seqlets, motif_examples=examples)
    click.echo(str(path.resolve()))
