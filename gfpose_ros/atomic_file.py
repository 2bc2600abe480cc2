"""Files that readers see whole or not at all: engines, checkpoints, reports.

    with replaced_atomically(path, "wb") as f:
        f.write(blob)

The content goes to a private temporary file beside ``path`` (two processes writing the same
file, two lift nodes building one engine at start-up, never share it), which replaces ``path``
in one step when the block ends cleanly and is removed when it does not (an error, or a signal's
exception at shutdown): no half-written file and no temporary file is left behind.
"""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def replaced_atomically(path, mode="wb"):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
