"""Output files that appear only when they are complete.

A writer writes to ``NAME.partial`` beside its target and renames it to
``NAME`` when the run finishes (:meth:`AtomicFile.commit`), so a file at
the output path is always a finished result. A run that fails or is
interrupted calls :meth:`AtomicFile.abort`: the partial file is kept as
``NAME.partial`` when it holds at least one result row, so the work done
is not lost but can never be mistaken for a finished result, and removed
when it holds none (a header alone is no result).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["AtomicFile", "AtomicWriter", "PARTIAL_SUFFIX",
           "check_output_paths"]

log = logging.getLogger("denovo.io")

PARTIAL_SUFFIX = ".partial"


def check_output_paths(outputs, inputs) -> None:
    """Refuse outputs that are inputs, or one output given twice.

    Paths are compared resolved (symbolic links, ``..``, relative paths),
    so ``-o ./run.mgf`` is caught for the input ``run.mgf``.

    Raises
    ------
    ValueError
        Naming the offending path.
    """
    seen = {}
    for path in inputs:
        seen[Path(path).resolve()] = f"the input {path}"
    for path in outputs:
        if path is None:
            continue
        resolved = Path(path).resolve()
        for target in (resolved,
                       resolved.with_name(resolved.name + PARTIAL_SUFFIX)):
            if target in seen:
                raise ValueError(f"output {path} would overwrite "
                                 f"{seen[target]}; choose another name")
        if resolved.is_dir():
            raise ValueError(f"output {path} is a directory")
        seen[resolved] = f"another output ({path})"


class AtomicFile:
    """A text file written under a temporary name, renamed when done.

    Parameters
    ----------
    path
        The final output path. A missing parent folder is created (and
        said so in the log).
    newline
        Passed to :func:`open`.
    """

    def __init__(self, path, *, newline: str | None = None):
        self.path = Path(path)
        self.partial_path = self.path.with_name(self.path.name
                                                + PARTIAL_SUFFIX)
        parent = self.path.parent
        if not parent.exists():
            parent.mkdir(parents=True, exist_ok=True)
            log.warning("created output folder %s", parent)
        self.fh = open(self.partial_path, "w", encoding="utf-8",
                       newline=newline)
        self.state = "open"

    def commit(self) -> None:
        """Close and rename the file to its final name."""
        if self.state != "open":
            return
        self.fh.close()
        os.replace(self.partial_path, self.path)
        self.state = "committed"

    def abort(self, *, keep: bool) -> Path | None:
        """Close; keep the partial file (``keep``) or remove it.

        Returns the kept partial file, or None.
        """
        if self.state != "open":
            return None
        self.fh.close()
        self.state = "aborted"
        if keep:
            return self.partial_path
        self.partial_path.unlink(missing_ok=True)
        return None


class AtomicWriter:
    """What every output writer shares: rows go to ``self._file`` (an
    :class:`AtomicFile`), counted in ``self.n_rows``; the file gets its
    final name on :meth:`close`, and a failed run keeps ``NAME.partial``
    only if it holds rows."""

    _file: AtomicFile
    n_rows: int = 0

    def close(self) -> None:
        """Finish: close the file and give it its final name."""
        self._file.commit()

    @property
    def partial_path(self) -> Path:
        """Where rows go until :meth:`close` renames the file."""
        return self._file.partial_path

    def abort(self) -> Path | None:
        """Give up: keep ``NAME.partial`` if it has rows, else remove it.

        Returns the kept partial file or None.
        """
        return self._file.abort(keep=self.n_rows > 0)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
