"""Field syntax (spec sections 4.3 and 6.3): tokens and field values.

One copy of each rule for every package: a server checks what it parses and
what an application sends, a framework what it is asked to put in a header, a
bridge what it passes on.  Each check takes ``str`` or ``bytes``, as the caller
holds the text; the rules are about ASCII octets, so both give one answer.
"""

from __future__ import annotations

import re
from typing import Final

TOKEN_REGEX: Final = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
"""An RFC 9110 ``token`` (section 5.6.2) as a regular expression, for patterns that embed one.

``re.compile(TOKEN_REGEX.encode())`` is the same pattern for ``bytes``.
"""

_TOKEN: Final = re.compile(TOKEN_REGEX)
_TOKEN_BYTES: Final = re.compile(TOKEN_REGEX.encode())
# PYRE-RESP-4: no upper-case letter; the class is the token's with A-Z left out.
_LOWERCASE_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")
_LOWERCASE_TOKEN_BYTES: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9a-z]+")
# RFC 9110 section 5.5: "Field values containing CR, LF, or NUL characters are invalid
# and dangerous"; written out, such a value would inject a field line of its own.
_NOT_IN_FIELD_VALUE: Final = re.compile(r"[\r\n\x00]")
_NOT_IN_FIELD_VALUE_BYTES: Final = re.compile(rb"[\r\n\x00]")


def is_token(text: str | bytes) -> bool:
    """Whether ``text`` is a non-empty RFC 9110 ``token``: a method, a field name, a parameter name."""
    if isinstance(text, bytes):
        return _TOKEN_BYTES.fullmatch(text) is not None
    return _TOKEN.fullmatch(text) is not None


def is_lowercase_token(text: str | bytes) -> bool:
    """Whether ``text`` is a token with no upper-case letter: a response field name (PYRE-RESP-4)."""
    if isinstance(text, bytes):
        return _LOWERCASE_TOKEN_BYTES.fullmatch(text) is not None
    return _LOWERCASE_TOKEN.fullmatch(text) is not None


def is_field_value(value: str | bytes) -> bool:
    """Whether ``value`` holds no CR, LF or NUL, so that it is one field line's value (PYRE-RESP-5).

    This is the rule for values an application sends.  A server parsing a request
    may refuse more (every control character but HTAB, RFC 9110 section 5.5).
    """
    if isinstance(value, bytes):
        return _NOT_IN_FIELD_VALUE_BYTES.search(value) is None
    return _NOT_IN_FIELD_VALUE.search(value) is None
