"""The compiled build: with PYRE_ASGI_COMPILE=1, the wheel's hot modules are compiled by mypyc.

Without it (the default) the wheel is pure Python, as is every editable install.
The modules are compiled from a copy of the package in a temporary directory, so
no extension module is ever left in the source tree (where an editable install
would import it in place of the code being edited).  mypy type-checks the copy
without site-packages: pyre.spec and wsproto are ``Any`` to it, so the compiled
code is the same whatever else the build environment holds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ENABLE = "PYRE_ASGI_COMPILE"
# What runs for every request from_asgi serves: the bridge itself, the stepping of the app's
# coroutine, the reading of its messages and the paths; _websocket too, since its session is
# an AppStepper (an interpreted class cannot subclass a native one).  And to_asgi's bridge,
# which runs for every request a pyre-spec app gets from an ASGI server.  Not the rest: the
# lifespan and the app detection run once, to_asgi's WebSocket session once per connection.
COMPILED = ("_from_asgi", "_stepping", "_messages", "_paths", "_websocket", "_to_asgi")
# mypyc's runtime for the compiled modules, one shared library beside the package.
GROUP = "pyre_asgi"

_SETUP = """\
from mypyc.build import mypycify
from setuptools import setup

MYPY_OPTIONS = [
    "--no-site-packages",  # pyre.spec and wsproto are Any to it, wherever it runs
    "--ignore-missing-imports",
    "--explicit-package-bases",  # pyre is a namespace package
    "--follow-imports=silent",  # the modules not compiled are read for types, not checked
]

setup(
    name="pyre-asgi-compiled",
    ext_modules=mypycify(
        [*MYPY_OPTIONS, *{modules!r}],
        opt_level="3",
        group_name={group!r},
    ),
)
"""


class CompileHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def _enabled(self) -> bool:
        return os.environ.get(ENABLE, "") not in ("", "0")

    def dependencies(self) -> list[str]:
        return ["mypy>=1.11", "setuptools>=70"] if self._enabled() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable" or not self._enabled():
            return
        work = Path(tempfile.mkdtemp(prefix="pyre-asgi-mypyc-"))
        self._work = work
        shutil.copytree(Path(self.root, "src", "pyre", "asgi"), work / "pyre" / "asgi")
        modules = [f"pyre/asgi/{name}.py" for name in COMPILED]
        (work / "setup.py").write_text(_SETUP.format(modules=modules, group=GROUP))
        env = {**os.environ, "MYPYPATH": ""}
        done = subprocess.run(
            [sys.executable, "setup.py", "build_ext", "--inplace"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"{ENABLE}: mypyc failed to compile pyre-asgi:\n{done.stdout}")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        include = build_data["force_include"]
        for name in COMPILED:
            include[str(work / "pyre" / "asgi" / f"{name}{suffix}")] = f"pyre/asgi/{name}{suffix}"
        include[str(work / f"{GROUP}__mypyc{suffix}")] = f"{GROUP}__mypyc{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
