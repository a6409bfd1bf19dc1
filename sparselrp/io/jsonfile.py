"""JSON files: reading with one clear error line for a file that is not valid JSON, and
making values strict JSON."""

import json
import math

import numpy as np

from ..errors import InputFormatError


def read_json(path, what=None):
    """Parse the JSON document in ``path``.

    Parameters
    ----------
    path : str or Path
        The file.
    what : str, optional
        How the error message names the file's role (e.g. ``"stats file"``:
        "stats file is not valid JSON: ..."); without it: "invalid JSON: ...".

    Returns
    -------
    object
        The parsed document.

    Raises
    ------
    InputFormatError
        Not UTF-8 text, not valid JSON (with line and column), or nested too deeply.
    """
    not_text = f"{what} is not a text file" if what else "not a text file"
    invalid = f"{what} is not valid JSON" if what else "invalid JSON"
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputFormatError(f"{not_text} (undecodable byte at offset {exc.start})", path) from None
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"{invalid}: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
    except RecursionError:
        raise InputFormatError(f"{invalid}: nested too deeply", path) from None


def finite_json(obj):
    """``obj`` with every non-finite float (NaN, inf) replaced by ``None``, so that it dumps
    as strict JSON; numpy scalars become Python numbers, dict keys strings, tuples lists."""
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj
