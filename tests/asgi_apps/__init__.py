"""ASGI applications (and the servers that run them) for the pyre-asgi integration tests.

Imported as ``asgi_apps`` with the repository's ``tests/`` directory on
``PYTHONPATH``; the tests start real uvicorn, hypercorn, granian and
pyre-server processes on them.
"""
