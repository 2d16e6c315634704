"""What the command lines share: a bad argument is one line on stderr and exit status 2."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``prog: error: message (see --help)``, and exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (made first when missing), or None when they can."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot make the folder {str(folder)!r}: {str(existing)!r} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot write into the folder {str(existing)!r} (permission denied)"
    return None
