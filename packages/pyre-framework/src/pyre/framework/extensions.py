"""Extensions: modules with a ``setup(app)`` that add blueprints, and can be unloaded and reloaded.

Blueprints added while an extension's ``setup`` runs belong to it: unloading the
extension removes them.  A module is imported afresh on each load (it is
dropped from ``sys.modules`` on unload), and a reload whose new code fails puts
the old module back, with its blueprints.
"""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .exceptions import ExtensionError

if TYPE_CHECKING:
    from .app import App


class Extensions:
    """The extensions loaded into one app.

    ``drop(name)`` removes the blueprints that extension ``name`` added to the app.
    """

    def __init__(self, app: App[Any], drop: Callable[[str], None]) -> None:
        self.modules: dict[str, types.ModuleType] = {}
        self.loading: str | None = None
        """The extension whose ``setup`` is running, which blueprints added now belong to."""
        self._app = app
        self._drop = drop

    def load(self, name: str) -> None:
        if name in self.modules:
            raise ExtensionError(f"extension {name!r} is already loaded")
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            raise ExtensionError(f"cannot import extension {name!r}: {error}") from error
        setup = getattr(module, "setup", None)
        if not callable(setup):
            sys.modules.pop(name, None)
            raise ExtensionError(f"extension {name!r} has no setup(app) function")
        try:
            self._set_up(name, module)
        except Exception:
            self._drop(name)
            sys.modules.pop(name, None)
            raise

    def unload(self, name: str) -> None:
        module = self.modules.pop(name, None)
        if module is None:
            raise ExtensionError(f"extension {name!r} is not loaded")
        try:
            teardown = getattr(module, "teardown", None)
            if callable(teardown):
                teardown(self._app)
        finally:
            self._drop(name)
            # The next load imports the module afresh.
            sys.modules.pop(name, None)

    def reload(self, name: str) -> None:
        previous = self.modules.get(name)
        if previous is None:
            raise ExtensionError(f"extension {name!r} is not loaded")
        self.unload(name)
        try:
            self.load(name)
        except Exception:
            sys.modules[name] = previous
            self._set_up(name, previous)
            raise

    def _set_up(self, name: str, module: types.ModuleType) -> None:
        self.loading = name
        try:
            module.setup(self._app)
        finally:
            self.loading = None
        self.modules[name] = module
