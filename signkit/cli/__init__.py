"""The `signkit` command line: thin wrappers over library functions."""

from .main import cli

__all__ = ["cli"]
