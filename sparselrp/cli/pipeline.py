"""``sparselrp pipeline``: where the packaged Snakemake workflow lives; copy it out."""

import click

from ._common import main


@main.command("pipeline")
@click.option("--copy", "dest", type=click.Path(file_okay=False), default=None,
              help="Copy the workflow (Snakefile, rules, config, schema, profiles, README) into this folder.")
@click.option("--force", is_flag=True, help="With --copy: overwrite files that already exist.")
def pipeline_command(dest, force):
    """Show or copy the Snakemake workflow that ships with sparselrp.

    Without options, prints the folder of the packaged workflow. Run it with
    e.g. `snakemake -s "$(sparselrp pipeline)/Snakefile" -c 2 --configfile my.yaml`,
    or copy it out with --copy DIR, edit DIR/config.yaml and run
    `snakemake -s DIR/Snakefile -c 2`.
    """
    from ..pipeline import copy_workflow, workflow_dir

    if dest is None:
        click.echo(str(workflow_dir()))
        return
    files = copy_workflow(dest, overwrite=force)
    click.echo(f"copied {len(files)} files to {dest}")
