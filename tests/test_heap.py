"""A long-running process freezes what it built while starting (``webapp/heap.py``)."""

import subprocess
import sys

# In a child process: freezing the test process itself would keep its garbage for good.
PROBE = """
import gc, weakref
from webapp.heap import freeze_startup_objects

class Node:
    pass

def cycle():
    node = Node()
    node.me = node
    return weakref.ref(node)

made_before = Node(); made_before.me = made_before
freeze_startup_objects()
frozen = gc.get_freeze_count()
before = weakref.ref(made_before)
del made_before
after = cycle()  # garbage made after the freeze
gc.collect()
print(frozen, before() is not None, after() is None)
"""


def test_objects_alive_at_the_freeze_are_out_of_the_collectors_reach_and_later_garbage_is_not():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) > 1000  # the interpreter's own modules, at least
    assert out[1:] == ["True", "True"]
