"""``sparselrp motifs``: discover motifs from seqlets, match JASPAR, write MEME (and JSON)."""

import click

from ._common import main


def _fmt_match(m):
    if not m.matches:
        return "-"
    b = m.matches[0]
    return f"{b['target_id']} {b['target_name']} (p={b['p_value']:.1e}, q={b['q_value']:.1e})"


@main.command("motifs")
@click.option("-a", "--attributions", "attr", required=True, type=click.Path(dir_okay=False),
              help="Attributions .npz (N, 4, L), dense ('arr_0') or sparse.")
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(dir_okay=False),
              help="One-hot .npz from 'sparselrp encode'.")
@click.option("--seqlets", "seqlets_path", type=click.Path(dir_okay=False), default=None,
              help="Seqlet table from 'sparselrp seqlets' (default: call seqlets here with its defaults).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Output motifs in MEME minimal format (PWMs).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every motif field (PWM, CWM, hypothetical CWM, seqlets, matches) as JSON.")
@click.option("--hyp", type=click.Path(dir_okay=False), default=None,
              help="Hypothetical contributions .npz (N, 4, L) for hypothetical CWMs.")
@click.option("--similarity", type=click.FloatRange(-1, 1), default=0.6, show_default=True,
              help="Cosine similarity a seqlet needs to join a motif.")
@click.option("--min-support", type=click.IntRange(min=1), default=5, show_default=True,
              help="Minimum number of seqlets per motif.")
@click.option("--max-motifs", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many motifs.")
@click.option("--trim-threshold", type=click.FloatRange(0, 1), default=0.2, show_default=True,
              help="Trim flanks whose column contribution is below this share of the largest.")
@click.option("--jaspar-release", default=None,
              help="JASPAR release shipped with pyjaspar, e.g. JASPAR2024 (default: the newest).")
@click.option("--tax-group", default="vertebrates", show_default=True, help="JASPAR taxonomic group.")
@click.option("--collection", default="CORE", show_default=True, help="JASPAR collection.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="JASPAR matches kept per motif.")
@click.option("--no-jaspar", is_flag=True, help="Skip JASPAR matching.")
def motifs_cmd(attr, ohe, seqlets_path, output, json_path, hyp, similarity, min_support, max_motifs,
               trim_threshold, jaspar_release, tax_group, collection, top, no_jaspar):
    """Discover motifs (PWM, CWM, hypothetical CWM) from seqlets and match them against JASPAR."""
    from ..errors import InputFormatError
    from ..io.attributions import load_attributions
    from ..io.meme import write_meme
    from ..io.motifs_json import write_motifs_json
    from ..io.seqlets import read_seqlets_tsv
    from ..motifs import discover_motifs, find_seqlets, jaspar_releases, match_jaspar
    from .seqlets import load_inputs

    if not no_jaspar and jaspar_release is not None:
        rel = str(jaspar_release)
        rel = f"JASPAR{rel}" if rel.isdigit() else rel
        if rel not in jaspar_releases():
            raise click.BadParameter(f"{jaspar_release!r} is not shipped; choose one of "
                                     f"{', '.join(jaspar_releases())}", param_hint="--jaspar-release")
    R, oh = load_inputs(attr, ohe)
    X = oh.X.numpy()
    H = None
    if hyp:
        H = load_attributions(hyp).numpy()
        if H.shape != X.shape:
            raise InputFormatError(f"hypothetical scores have shape {H.shape}, expected {X.shape}", hyp)
    if seqlets_path:
        seqlets = read_seqlets_tsv(seqlets_path)
        n, _, length = X.shape
        if len(seqlets) and (seqlets.seq.max() >= n or seqlets.end.max() > length):
            raise InputFormatError(f"seqlets refer to sequence {int(seqlets.seq.max())} / position "
                                   f"{int(seqlets.end.max())}, but {ohe} has {n} sequences of length {length}; "
                                   "were they called on other inputs?", seqlets_path)
    else:
        seqlets = find_seqlets(R, coords=oh.coords, names=oh.names)
    motifs = discover_motifs(seqlets, X, R, H=H, similarity=similarity, min_support=min_support,
                             max_motifs=max_motifs, trim_threshold=trim_threshold, progress=True)
    meta = {"attributions": str(attr), "sequences": str(ohe), "n_seqlets": len(seqlets)}
    if motifs and not no_jaspar:
        from ..motifs.jaspar import _resolve_release

        meta["jaspar_release"] = _resolve_release(jaspar_release)
        match_jaspar(motifs, release=jaspar_release, collection=collection, tax_group=tax_group, top=top)
    write_meme(output, motifs)
    if json_path:
        write_motifs_json(json_path, motifs, metadata=meta)
    click.echo(f"{len(motifs)} motifs from {len(seqlets)} seqlets -> {output}" + (f", {json_path}" if json_path else ""))
    if motifs:
        rows = [("motif", "width", "support", "consensus", "best match")]
        rows += [(m.name, str(m.width), str(m.support), m.consensus(), _fmt_match(m)) for m in motifs]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            click.echo("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
