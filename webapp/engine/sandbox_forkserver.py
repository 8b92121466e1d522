"""Imported by the sandboxes' forkserver alone, as it starts (``isolation.py`` preloads it),
never by the web or a worker.

A process that multiprocessing starts runs its parent's main script again first (as
``__mp_main__``), so that what the parent defined there can be unpickled: for an rq worker
that is the ``rq`` script, which imports rq, redis and click, ~17 MB in every sandbox, none
of it shared. A sandbox needs nothing from there (its target and its tasks live in the
engine), so the forkserver's children skip it. The engine itself is imported here once,
and shared by every sandbox forked from this process.
"""

from __future__ import annotations

from multiprocessing import spawn

from . import isolation  # noqa: F401 - preloaded for the sandboxes forked from here

_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")
_prepare = spawn.prepare


def _prepare_without_main(data: dict) -> None:
    _prepare({key: value for key, value in data.items() if key not in _MAIN_KEYS})


spawn.prepare = _prepare_without_main  # what a forked child calls first (``spawn._main``)
