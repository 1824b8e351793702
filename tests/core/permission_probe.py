"""Whether file modes are enforced here, found by trying rather than by
asking who we are: root usually reads anything, but root without
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (as .ci/run runs the tests, under
``setpriv``) does not, and neither does a user on an odd file system."""

from __future__ import annotations

import functools
import os
import tempfile

import pytest


@functools.cache
def modes_are_enforced() -> bool:
    """True when a file of mode 0 cannot be opened."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "probe")
        with open(path, "w") as handle:
            handle.write("probe")
        os.chmod(path, 0)
        try:
            with open(path):
                return False
        except PermissionError:
            return True
        finally:
            os.chmod(path, 0o600)


def skip_unless_modes_are_enforced() -> None:
    if not modes_are_enforced():
        pytest.skip("a file of mode 0 can be read here (root with CAP_DAC_OVERRIDE): run as .ci/run does")
