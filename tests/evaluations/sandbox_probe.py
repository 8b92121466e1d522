"""A function a test asks a sandbox to call: which of the given modules it has imported.
Imports nothing but what it needs, as every ``@sandboxed`` module should."""

from __future__ import annotations

import sys

from webapp.engine.isolation import sandboxed

LOADED = "tests.loaded_modules"


@sandboxed(LOADED)
def loaded_modules(names: list[str]) -> list[str]:
    return sorted(name for name in names if name in sys.modules)
