"""Read a JSON file with one clear error line for a file that is not valid JSON."""

import json

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
