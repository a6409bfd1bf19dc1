"""Exception types of sparselrp.

Every error meant for a user subclasses :class:`SparseLRPError` or a built-in
type the API documents (``ValueError`` for bad sequences and files). The CLI
turns any of them into one line on stderr and a non-zero exit.
"""


class SparseLRPError(Exception):
    """Base class of sparselrp's own errors."""


class InputFormatError(SparseLRPError, ValueError):
    """A malformed input file; the message names the file and line.

    Parameters
    ----------
    message : str
        What is wrong.
    path : str, optional
        The file.
    line : int, optional
        1-based line number in the file.
    """

    def __init__(self, message, path=None, line=None):
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f", line {line}"
            where += ": "
        super().__init__(where + message)


class UnsupportedOperationError(SparseLRPError, TypeError):
    """The model contains an operation the LRP engine cannot explain."""


class ModelFileError(SparseLRPError, ValueError):
    """A model directory or file that is invalid or unsafe to load."""
