"""The compiled build: with PYRE_SERVER_COMPILE=1, the wheel's hot modules are compiled by mypyc.

Without it (the default) the wheel is pure Python, as is every editable install.
The modules are compiled from a copy of the package in a temporary directory, so
no extension module is ever left in the source tree (where an editable install
would import it in place of the code being edited).  mypy type-checks the copy
without site-packages: pyre.spec and httptools are ``Any`` to it, so the compiled
code is the same whatever else the build environment holds.

What a compiled module may not do, which ``nox -s tests-server-compiled`` finds:
hold a ``continue`` inside try/finally, define an async generator, await in a
``finally`` (the exception stays set as the one being handled: use an except
clause and code after it), inherit from two classes, delete an attribute not in
``__deletable__``, or trust an annotation with what the app hands it: a
parameter, a variable or an iteration typed ``int`` or ``bytes`` raises a
TypeError of mypyc's own for anything else, so what an app gives is typed
``object`` until checked.
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

ENABLE = "PYRE_SERVER_COMPILE"
# What runs for every request: the sans-IO core (the parser's callbacks), the request
# and its body (made for each one), and the asyncio protocol (its transport callbacks,
# the response's bytes).  Not the rest: the rules and the response's head run once per
# distinct head, behind a cache; RequestTask needs a weakref slot (anyio keeps its tasks
# in a WeakKeyDictionary), which a native class has only by a decorator from
# mypy_extensions.
COMPILED = ("_core", "_request", "_protocol")
# mypyc's runtime for the compiled modules, one shared library beside the package.
GROUP = "pyre_server"

_SETUP = """\
from mypyc.build import mypycify
from setuptools import setup

MYPY_OPTIONS = [
    "--no-site-packages",  # pyre.spec and httptools are Any to it, wherever it runs
    "--ignore-missing-imports",
    "--explicit-package-bases",  # pyre is a namespace package
    "--follow-imports=silent",  # the modules not compiled are read for types, not checked
]

setup(
    name="pyre-server-compiled",
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
        work = Path(tempfile.mkdtemp(prefix="pyre-server-mypyc-"))
        self._work = work
        shutil.copytree(Path(self.root, "src", "pyre", "server"), work / "pyre" / "server")
        modules = [f"pyre/server/{name}.py" for name in COMPILED]
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
            raise RuntimeError(f"{ENABLE}: mypyc failed to compile pyre-server:\n{done.stdout}")
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        include = build_data["force_include"]
        for name in COMPILED:
            include[str(work / "pyre" / "server" / f"{name}{suffix}")] = f"pyre/server/{name}{suffix}"
        include[str(work / f"{GROUP}__mypyc{suffix}")] = f"{GROUP}__mypyc{suffix}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
