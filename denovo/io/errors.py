"""The one exception a reader raises for a file it cannot read at all.

Problems inside a readable file (one bad spectrum, a truncated tail) are
never exceptions: they become spectrum statuses and entries in
:class:`~denovo.io.spectrum.ReadStats`. This class is for the rest, so the
command line can print one line and exit non-zero instead of a traceback.
"""

from __future__ import annotations

__all__ = ["InputFileError"]


class InputFileError(Exception):
    """A spectrum or label file that cannot be opened or parsed.

    Parameters
    ----------
    path
        The file, as the user named it.
    message
        What is wrong, in words a user understands.
    position
        Where: ``"line 12"`` for text formats, a spectrum id or byte offset
        for XML; None when the whole file is concerned.
    """

    def __init__(self, path, message: str, *, position: str | None = None):
        self.path = str(path)
        self.position = position
        self.reason = message
        where = f"{self.path}, {position}" if position else self.path
        super().__init__(f"{where}: {message}")
