"""The ``sparselrp`` command line.

Each subcommand lives in its own module of this package and is registered on
:data:`main` at import time. Errors meant for the user become one line on
stderr and a non-zero exit; ``--debug`` shows the traceback.
"""

import importlib

from ._common import main

# Subcommand modules, in the order ``--help`` lists them. A module that is not
# present yet is skipped so the command stays usable while the tool grows.
_SUBCOMMANDS = [
    "encode",
    "train",
    "simulate",
    "attribute",
    "diagnose",
    "seqlets",
    "motifs",
    "logo",
    "report",
    "tracks",
    "demo",
    "shard",
    "merge",
    "pipeline",
    "datapath",
]

for _name in _SUBCOMMANDS:
    try:
        importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a module is missing
        if _exc.name != f"{__name__}.{_name}":
            raise

__all__ = ["main"]
