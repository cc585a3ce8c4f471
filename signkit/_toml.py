"""The TOML reader: the standard library's ``tomllib`` from Python 3.11, ``tomli`` (the same parser, a declared
dependency there) on 3.10. TOML is written with ``tomli-w`` (`signkit.zoo.registry.dumps_registry`)."""

from __future__ import annotations

import sys
from types import ModuleType

HAS_TOMLLIB = sys.version_info >= (3, 11)


def toml_reader() -> ModuleType:
    """The module with ``loads`` and ``TOMLDecodeError``."""
    if HAS_TOMLLIB:
        import tomllib

        return tomllib
    import tomli

    return tomli
