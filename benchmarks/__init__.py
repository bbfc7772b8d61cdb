"""Pyre's side-by-side performance suite.

Run ``python -m benchmarks --help`` (or ``nox -s bench -- --quick``).  Every
result is a ratio measured in the same run: each server is pinned to one core
(the ``-w2`` targets' two workers are not pinned), ``wrk`` to another, and every
case checks the server's answer before timing it.
"""
