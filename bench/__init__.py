"""The benchmark suite behind ``make bench``: see ``python -m bench --help``.

It starts everything it measures (the loopback model server, gunicorn in local and
queue mode, rq workers, fresh databases), runs the scenarios of issue 8, prints a
table and writes ``docs/benchmarks.md`` with ``docs/benchmarks-throughput.svg``.
"""
