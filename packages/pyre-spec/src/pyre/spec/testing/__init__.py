"""The pyre-spec conformance kit.

- ``Driver``: an in-memory reference driver for apps and test clients.
- ``validate``: wraps an application and checks both sides of the interface.
- ``pyre.spec.testing.conformance``: the server conformance suite and wire corpus.
"""

from ._driver import DRIVER_INFO as DRIVER_INFO
from ._driver import Driver as Driver
from ._driver import DriverResponse as DriverResponse
from ._driver import MemoryBody as MemoryBody
from ._driver import MemoryRequest as MemoryRequest
from ._driver import collect as collect
from ._driver import header_pairs as header_pairs
from ._validator import SpecViolation as SpecViolation
from ._validator import validate as validate

__all__ = [
    "DRIVER_INFO",
    "Driver",
    "DriverResponse",
    "MemoryBody",
    "MemoryRequest",
    "SpecViolation",
    "collect",
    "header_pairs",
    "validate",
]
