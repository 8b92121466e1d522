"""Evaluations: a workflow's test cases, test runs that score them, and the publish gate.

``cases`` and ``runs`` are the services; ``scoring`` scores a case once its execution
settles and ends the test run; ``gate`` is the publish gate; ``records`` what all of them
read. ``checks`` scores a case's checks (``score``), ``comparisons`` is the part of that
which runs in a sandbox process (a user's regular expression or JSON Schema is code), and
``kinds`` names the check kinds. The body schema of a check is ``webapp/schemas/checks.py``.
Nothing heavy is imported here: a sandbox imports ``comparisons`` through this package.
"""
