"""``sparselrp attribute``: explain a one-hot file with (pruned) LRP."""

import click

from ._common import main
from .options import (explain_options, load_model, model_options, parse_strand_pairs, pruning_from_options,
                      resolve_device, resolve_targets)


@main.command("attribute")
@model_options
@click.option("-s", "--sequences", "ohe", required=True, type=click.Path(exists=True, dir_okay=False),
              help="One-hot .npz (key arr_0, shape (N, 4, L)) from `sparselrp encode`.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Attributions .npz (dense arr_0 (N, 4, L), or sparse with --sparse): projected "
                   "contributions (each position's relevance on its observed base) unless --raw.")
@explain_options
@click.option("--raw", is_flag=True, help="Write the relevance pass's own map to --output instead of the "
                                          "projected one (under zB first layers absent bases carry relevance).")
@click.option("--sparse", is_flag=True, help="Write --output in the sparse COO form (smaller for pruned maps).")
@click.option("--dense", "dense_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the dense arr_0 form of --output here.")
@click.option("--hypothetical", "hyp_path", type=click.Path(dir_okay=False), default=None,
              help="Also write hypothetical contributions for all four bases here (dense arr_0, kind "
                   "hypothetical: what `modisco motifs -a` and `sparselrp motifs` want).")
@click.option("--strand-average", is_flag=True, help="Average with the reverse-complement map flipped back.")
@click.option("--strand-pairs", default=None, metavar="I,J,...",
              help="With --strand-average, for stranded outputs: the output that answers each target on the "
                   "reverse strand, in output order (1,0 for outputs plus, minus). Default: the same output.")
@click.option("--stats", "stats_path", type=click.Path(dir_okay=False), default=None,
              help="Write a JSON summary: zero positions, conservation, per-layer zero share and Gini.")
def attribute(model_dir, model_class, weights, config_path, head, ohe, output, target, composite, no_prune, topk,
              prune_mass, p_neg, prune_layers, prune_group, redistribute, batch_size, device, raw, sparse, dense_path,
              hyp_path, strand_average, strand_pairs, stats_path):
    """Explain every sequence of a one-hot file; stream it batch by batch.

    By default the map is sl.plrp's: composite epsilon-gamma, position-grouped
    mass pruning (p = 0.5) of the convolution stack, projected on the observed
    bases. --no-prune gives plain LRP, --composite best-practice sl.lrp's rules.

    --target takes one index or task name, several (0,2 or ctcf,rad21) or all:
    one run, one forward pass per batch, one output file per target
    (attr.npz -> attr.ctcf.npz, or {target} in the name).

    All outputs appear together when the run succeeds; a failed or interrupted
    run leaves the previous outputs as they were (hidden temporaries of a killed
    run are removed by the next run).
    """
    from ..attribute import attribute_file

    pruning = pruning_from_options(topk, prune_mass, p_neg, redistribute, no_prune, prune_layers, prune_group)
    from ..attribute import target_path
    from ..io.npz_stream import npz_member_info

    pairs = parse_strand_pairs(strand_pairs)
    if pairs is not None and not strand_average:
        raise click.UsageError("--strand-pairs goes with --strand-average")
    model = load_model(model_dir, device=resolve_device(device), model_class=model_class, weights=weights,
                       config_path=config_path, head=head)
    shape, _ = npz_member_info(ohe, "arr_0")
    length = shape[-1] if len(shape) == 3 else 1
    resolved = resolve_targets(target, model, model_dir, length)
    multi = isinstance(resolved, dict)
    summary = attribute_file(
        model, ohe, output, target=0 if multi else resolved, targets=resolved if multi else None,
        composite=composite, pruning=pruning, batch_size=batch_size,
        device=resolve_device(device), sparse=sparse, dense_path=dense_path, hypothetical_path=hyp_path,
        strand_average=strand_average, strand_pairs=pairs, stats_path=stats_path, progress=True,
        kind="raw" if raw else "projected",
    )
    for label, summ in (summary.items() if multi else [(None, summary)]):
        msg = f"explained {summ['n']} sequences of length {summ['length']} -> {target_path(output, label)}"
        if "input_zero_share" in summ:
            msg += f" (zero positions {summ['input_zero_share']:.1%})"
        click.echo(msg, err=True)
