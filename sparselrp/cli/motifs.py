"""``sparselrp motifs``: tfmodisco-lite on hypothetical scores, JASPAR matches, MEME / HDF5 / JSON files."""

import click

from ._common import main


def _fmt_match(m):
    if not m.matches:
        return "-"
    b = m.matches[0]
    return f"{b['target_id']} {b['target_name']} (p={b['p']:.1e}, q={b['q']:.1e})"


@main.command("motifs")
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(dir_okay=False),
              help="One-hot .npz from 'sparselrp encode'.")
@click.option("-a", "--attributions", "attr", required=True, type=click.Path(dir_okay=False),
              help="Hypothetical scores .npz (N, 4, L): 'sparselrp attribute --hypothetical FILE'.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Motifs in MEME minimal format (the matrix chosen by --meme-type).")
@click.option("--meme-type", type=click.Choice(["pfm", "cwm", "hcwm"]), default="pfm", show_default=True,
              help="Matrix written to --output: base probabilities, contributions, or hypothetical contributions.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every motif field (PWM, CWM, hCWM, support, seqlets, sign, matches) as JSON.")
@click.option("--h5", "h5_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the tfmodisco-lite results HDF5 (what Fi-NeMo's call-hits and 'modisco report' read).")
@click.option("--modisco-npz", "npz_dir", type=click.Path(file_okay=False), default=None,
              help="Also write DIR/ohe.npz and DIR/hyp.npz: the pair 'modisco motifs -s -a' reads.")
@click.option("--regions", "regions_path", type=click.Path(dir_okay=False), default=None,
              help="Also write one region per sequence (row of the npz): narrowPeak for a .narrowPeak name, else BED6.")
@click.option("--seqlets-out", "seqlets_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the called seqlets as a TSV table (sparselrp seqlets' columns).")
@click.option("--allow-projected", is_flag=True,
              help="Accept a projected map (zero on absent bases) with a warning instead of an error.")
@click.option("--max-seqlets", type=click.IntRange(min=1), default=20000, show_default=True,
              help="Most seqlets per sign passed to clustering.")
@click.option("--n-leiden", type=click.IntRange(min=1), default=2, show_default=True,
              help="Leiden clusterings with different seeds.")
@click.option("--window", type=click.IntRange(min=1), default=20, show_default=True, help="Seqlet core width.")
@click.option("--flank", type=click.IntRange(min=0), default=5, show_default=True,
              help="Positions added on each side of a seqlet core.")
@click.option("--fdr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="Target false discovery rate of seqlet windows.")
@click.option("--null", type=click.Choice(["all", "nonzero"]), default="all", show_default=True,
              help="Seqlet null from all windows (tfmodisco-lite unchanged), or from the windows with a "
                   "non-zero sum (keeps weak negative windows out of moderately sparse maps; docs/motifs.md).")
@click.option("--trim-size", type=click.IntRange(min=1), default=30, show_default=True,
              help="tfmodisco-lite's trim_to_window_size.")
@click.option("--min-metacluster-size", type=click.IntRange(min=0), default=100, show_default=True,
              help="A sign needs more seqlets than this to be clustered.")
@click.option("--min-support", type=click.IntRange(min=1), default=20, show_default=True,
              help="Fewest seqlets of a pattern.")
@click.option("--trim-threshold", type=click.FloatRange(0, 1), default=0.3, show_default=True,
              help="Motif matrices keep the columns whose |CWM| reaches this share of the largest.")
@click.option("--jaspar-release", default=None,
              help="JASPAR release shipped with pyjaspar, e.g. JASPAR2024 (default: the newest).")
@click.option("--tax-group", default="vertebrates", show_default=True, help="JASPAR taxonomic group.")
@click.option("--collection", default="CORE", show_default=True, help="JASPAR collection.")
@click.option("--meme-db", "meme_db", multiple=True, type=click.Path(dir_okay=False),
              help="Another MEME database to match against besides JASPAR (HOCOMOCO, Vierstra); repeatable.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Matches kept per motif.")
@click.option("--no-jaspar", is_flag=True, help="Do not match against JASPAR (--meme-db databases still are).")
def motifs_cmd(ohe, attr, output, meme_type, json_path, h5_path, npz_dir, regions_path, seqlets_path, allow_projected,
               max_seqlets, n_leiden, window, flank, fdr, null, trim_size, min_metacluster_size, min_support,
               trim_threshold, jaspar_release, tax_group, collection, meme_db, top, no_jaspar):
    """Discover motifs with tfmodisco-lite from hypothetical scores; match them against JASPAR.

    Writes the MEME file and, on request, the tfmodisco-lite HDF5, the npz pair, the
    regions, the seqlet table and the JSON; every file appears complete or not at
    all. Matching compiles memelite's TOMTOM on its first use in an environment.
    """
    import os
    import warnings
    from pathlib import Path

    from ..errors import InputFormatError
    from ..io.meme import write_meme
    from ..io.modisco import write_modisco_h5, write_modisco_npz
    from ..io.motifs_json import write_motifs_json
    from ..io.regions import write_regions
    from ..io.seqlets import write_seqlets_tsv
    from ..motifs import discover, jaspar_releases, load_meme_db, match_jaspar
    from ..motifs.modisco import is_projected
    from .seqlets import load_inputs

    if not no_jaspar and jaspar_release is not None:
        rel = str(jaspar_release)
        rel = f"JASPAR{rel}" if rel.isdigit() else rel
        if rel not in jaspar_releases():
            raise click.BadParameter(f"{jaspar_release!r} is not shipped; choose one of "
                                     f"{', '.join(jaspar_releases())}", param_hint="--jaspar-release")
    for db in meme_db:  # an unreadable database fails before the long run, not after it
        load_meme_db(db)
    outputs = [p for p in (output, json_path, h5_path, regions_path, seqlets_path) if p]
    if npz_dir:
        outputs += [os.path.join(npz_dir, "ohe.npz"), os.path.join(npz_dir, "hyp.npz")]
    resolved = [Path(p).resolve() for p in outputs]
    if len(set(resolved)) != len(resolved):
        raise click.UsageError("two outputs name the same file")
    for p in resolved:
        if p in (Path(ohe).resolve(), Path(attr).resolve()):
            raise click.UsageError(f"{p} is an input; choose another output name")

    H, oh = load_inputs(attr, ohe)
    X = oh.X.numpy()
    if is_projected(X, H):
        msg = ("the attributions are projected (zero on every absent base), not hypothetical scores; write them "
               "with 'sparselrp attribute --hypothetical FILE', or pass --allow-projected (hCWMs then equal CWMs)")
        if not allow_projected:
            raise InputFormatError(msg, attr)
        click.echo(f"sparselrp: warning: {attr}: {msg}", err=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        motifs, details = discover(X, H, coords=oh.coords, names=oh.names, window=window, flank=flank, fdr=fdr, null=null, max_seqlets=max_seqlets,
                                   n_leiden=n_leiden, trim_size=trim_size, min_metacluster_size=min_metacluster_size,
                                   min_support=min_support, trim_threshold=trim_threshold, return_details=True,
                                   progress=True)
    meta = {"attributions": str(attr), "sequences": str(ohe), "engine": "tfmodisco-lite",
            "n_seqlets": details["n_seqlets"], "options": details["options"]}
    if motifs and (not no_jaspar or meme_db):
        if not no_jaspar:
            from ..motifs.jaspar import _resolve_release

            meta["jaspar_release"] = _resolve_release(jaspar_release)
        if meme_db:
            meta["meme_db"] = [str(d) for d in meme_db]
        match_jaspar(motifs, release=jaspar_release, collection=collection, tax_group=tax_group, top=top,
                     meme_db=list(meme_db) or None, jaspar=not no_jaspar)
    seqlets = details["seqlets"]
    write_meme(output, motifs, kind=meme_type)
    if json_path:
        write_motifs_json(json_path, motifs, metadata=meta)
    if h5_path:
        write_modisco_h5(h5_path, motifs, X, H)
    if npz_dir:
        Path(npz_dir).mkdir(parents=True, exist_ok=True)
        write_modisco_npz(os.path.join(npz_dir, "ohe.npz"), os.path.join(npz_dir, "hyp.npz"), X, H)
    if regions_path:
        write_regions(regions_path, X.shape[0], X.shape[2], names=oh.names, coords=oh.coords)
    if seqlets_path:
        write_seqlets_tsv(seqlets_path, seqlets)
    n = details["n_seqlets"]
    click.echo(f"{len(motifs)} patterns from {n['positive']} positive and {n['negative']} negative seqlets -> "
               + ", ".join(outputs))
    if motifs:
        rows = [("pattern", "sign", "width", "seqlets", "bits", "consensus", "best match")]
        rows += [(m.name, m.sign[:3], str(m.width), str(m.support), f"{m.information_content().sum():.1f}",
                  m.consensus(), _fmt_match(m)) for m in motifs]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        for r in rows:
            click.echo("  ".join(c.ljust(w) for c, w in zip(r[:6], widths)) + "  " + r[6])
