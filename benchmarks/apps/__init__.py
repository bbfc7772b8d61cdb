"""The same small application written for every server interface and framework.

Each module exposes ``app``.  Every app answers the routes in
:mod:`benchmarks.apps.payloads` with identical status and content, so that a
case compares servers and frameworks doing the same work.
"""
