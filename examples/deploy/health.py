"""Health endpoints for a deployed pyre-framework app (docs/deploy/health.md).

``pyre serve examples.deploy.health:app``

- ``GET /livez``: the process answers at all.  Liveness probes restart a
  process whose event loop is stuck; never make it depend on a database, or an
  outage of the database restarts every instance at once.
- ``GET /readyz``: the instance wants traffic: 200 once startup is done and
  its dependencies answer, 503 before that, after shutdown began, or while a
  dependency is down.  Load balancers and Kubernetes stop sending requests to
  an instance that is not ready, without restarting it.
"""

from __future__ import annotations

from typing import Any

from pyre import framework
from pyre.framework import App, responses

NO_STORE = {"cache-control": "no-store"}


class Health(framework.Blueprint):
    """Liveness and readiness; ``ready`` is set once the app has started."""

    def __init__(self) -> None:
        self.ready = False

    @framework.on_startup
    async def started(self) -> None:
        # Open pools, warm caches, run checks here: the instance is ready after them.
        self.ready = True

    @framework.on_shutdown
    async def stopping(self) -> None:
        self.ready = False

    async def dependencies_ok(self) -> bool:
        """Replace with a cheap check of what every request needs (``SELECT 1``), with a timeout."""
        return True

    @framework.endpoint("/livez", methods=["GET"])
    async def live(self) -> responses.TextResponse:
        return responses.TextResponse("ok", headers=NO_STORE)

    @framework.endpoint("/readyz", methods=["GET"])
    async def readiness(self) -> responses.TextResponse:
        if self.ready and await self.dependencies_ok():
            return responses.TextResponse("ready", headers=NO_STORE)
        return responses.TextResponse("not ready", status=503, headers=NO_STORE)


def create_app() -> App[Any]:
    """Your app, with the health blueprint added next to its own."""
    app = App()
    app.add_blueprint(Health())
    return app


app = create_app()
