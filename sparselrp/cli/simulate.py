"""``sparselrp simulate``: a planted-motif data set with ground-truth masks."""

import click

from ._common import main


def _spacing(value):
    if value is None:
        return None
    try:
        lo, hi = (int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected MIN,MAX (two integers), got {value!r}") from None
    return lo, hi


@main.command("simulate")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory: ohe.npz, labels.npz, mask.npz, instances.tsv, simulation.json.")
@click.option("--n", "n", default=1000, type=click.IntRange(min=1), help="Number of sequences.")
@click.option("--length", default=200, type=click.IntRange(min=1), help="Sequence length (bp).")
@click.option("--motif", "motifs", multiple=True,
              help="JASPAR id (MA0139) or TF name (CTCF); repeat for several. "
                   "[default: MA0139 (CTCF), MA0035 (GATA1), MA0080 (SPI1)]")
@click.option("--rule", "rules", multiple=True,
              help="Label rule of one task over the motifs with AND / OR, e.g. 'CTCF AND GATA1'; repeat for "
                   "several tasks. Motifs no rule names are decoys. [default: the first motif]")
@click.option("--p-present", default=0.5, type=click.FloatRange(0, 1), help="Chance a sequence holds each motif.")
@click.option("--no-balance", is_flag=True, help="Do not force half positives for the first task.")
@click.option("--background", type=click.Path(exists=True, dir_okay=False), default=None,
              help="FASTA of real sequences to dinucleotide-shuffle as background (default: random bases).")
@click.option("--gc", default=0.41, type=click.FloatRange(0, 1), help="GC content of the random background.")
@click.option("--orientation", type=click.Choice(["both", "forward"]), default="both",
              help="Plant on random strands (both) or forward only.")
@click.option("--spacing", default=None, metavar="MIN,MAX",
              help="Plant the motifs of a satisfied AND clause as one block with gaps of MIN..MAX bp.")
@click.option("--release", default=None, help="JASPAR release, e.g. JASPAR2024. [default: newest shipped]")
@click.option("--seed", default=0, type=int, help="Random seed (same seed, same data).")
def simulate_command(out_dir, n, length, motifs, rules, p_present, no_balance, background, gc, orientation,
                     spacing, release, seed):
    """Make a planted-motif data set with ground-truth motif masks."""
    from ..simulate import DEFAULT_MOTIFS, simulate

    sim = simulate(n=n, length=length, motifs=motifs or DEFAULT_MOTIFS, rules=list(rules) or None,
                   p_present=p_present, balance=not no_balance, background=background or "random", gc=gc,
                   orientation=orientation, spacing=_spacing(spacing), release=release, seed=seed)
    path = sim.save(out_dir)
    pos = sim.y.sum(0).int().tolist()
    click.echo(f"wrote {n} sequences x {length} bp, {len(sim.instances)} planted motifs, "
               f"positives per task {pos} to {path}")
