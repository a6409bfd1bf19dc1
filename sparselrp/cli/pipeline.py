"""``sparselrp pipeline``: where the packaged Snakemake workflow lives; copy it out; check a run first."""

import sys

import click

from ._common import main


def _merge(base, extra):
    """Snakemake's --configfile semantics: nested dicts are updated key by key."""
    out = dict(base)
    for k, v in (extra or {}).items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _fill_defaults(value, schema):
    """Fill in the schema's defaults the way snakemake's validate(set_default=True) does."""
    if not isinstance(schema, dict) or schema.get("type") != "object" or not isinstance(value, dict):
        return value
    for key, sub in (schema.get("properties") or {}).items():
        if key not in value and "default" in sub:
            import copy

            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _fill_defaults(value[key], sub)
    return value


def load_config(configfiles=()):
    """The config a ``snakemake --configfile ...`` run of the packaged workflow sees, validated.

    Raises
    ------
    ValueError
        A config file that is not YAML or fails the schema (the message names the key).
    """
    import yaml

    from ..pipeline import workflow_dir

    wf = workflow_dir()
    schema = yaml.safe_load((wf / "config.schema.yaml").read_text())
    config = {}
    for path in configfiles or [wf / "config.yaml"]:
        try:
            with open(path) as fh:
                data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a YAML mapping of config keys")
        config = _merge(config, data)
    try:
        import jsonschema
    except ImportError:
        raise ValueError("checking a config needs jsonschema: pip install jsonschema "
                         "(or pip install 'sparselrp[pipeline]')") from None
    try:
        jsonschema.validate(config, schema)
    except jsonschema.ValidationError as exc:
        where = ".".join(map(str, exc.absolute_path)) or "config"
        raise ValueError(f"{where}: {exc.message}") from None
    return _fill_defaults(config, schema)


@main.command("pipeline")
@click.option("--copy", "dest", type=click.Path(file_okay=False), default=None,
              help="Copy the workflow (Snakefile, rules, config, schema, profiles, README) into this folder.")
@click.option("--force", is_flag=True, help="With --copy: overwrite files that already exist.")
@click.option("--check", is_flag=True,
              help="Check a run before starting it: config, inputs, genome index, model, pyBigWig, and the "
                   "executor plugin a --profile names. One line per problem; exit 1 if any.")
@click.option("--configfile", "configfiles", multiple=True, type=click.Path(dir_okay=False),
              help="With --check: the config file(s) you pass to snakemake (default: the packaged config.yaml).")
@click.option("--profile", type=click.Path(), default=None,
              help="With --check: the snakemake profile you will use (e.g. profiles/slurm).")
def pipeline_command(dest, force, check, configfiles, profile):
    """Show, copy or check the Snakemake workflow that ships with sparselrp.

    Without options, prints the folder of the packaged workflow. Run it with
    e.g. `snakemake -s "$(sparselrp pipeline)/Snakefile" -c 2 --configfile my.yaml`,
    or copy it out with --copy DIR, edit DIR/config.yaml and run
    `snakemake -s DIR/Snakefile -c 2`.

    The workflow checks its config, inputs, model and optional dependencies
    itself before any job runs. `--check` does the same by hand, and also
    checks the executor plugin of a profile, which snakemake needs before it
    reads the workflow: `sparselrp pipeline --check --profile profiles/slurm
    --configfile my.yaml`. Paths in the config are taken relative to the
    current folder, as snakemake does.
    """
    from ..pipeline import check_executor, check_workflow, copy_workflow, profile_executor, workflow_dir

    if check:
        config = load_config(configfiles)
        problems = check_workflow(config)
        if profile is not None:
            executor = profile_executor(profile)
            problems += check_executor(executor)
        for p in problems:
            click.echo(f"sparselrp workflow: {p}", err=True)
        if problems:
            sys.exit(1)
        click.echo("workflow checks passed" + (f" (profile {profile})" if profile else ""), err=True)
        return
    if dest is None:
        click.echo(str(workflow_dir()))
        return
    files = copy_workflow(dest, overwrite=force)
    click.echo(f"copied {len(files)} files to {dest}")
