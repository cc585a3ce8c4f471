"""The registry of benchmark sources: a table of data, one entry per dataset name (STYLE.md #2)."""

from __future__ import annotations

from ...errors import DatasetError
from ._base import Source
from .autsl import AUTSL
from .csl_daily import CSLDaily
from .fs_words import FingerspelledWords
from .how2sign import How2Sign
from .kaggle_asl import ASLFingerspelling, ASLSigns
from .lexicon import FingerspellingLexicon
from .lsa64 import LSA64
from .msasl import MSASL
from .openasl import OpenASL
from .phoenix import Phoenix2014, Phoenix2014T
from .wlasl import WLASL

_SOURCES: dict[str, Source] = {
    s.info.name: s
    for s in (
        WLASL(),
        MSASL(),
        AUTSL(),
        LSA64(),
        Phoenix2014(),
        Phoenix2014T(),
        CSLDaily(),
        How2Sign(),
        OpenASL(),
        ASLSigns(),
        ASLFingerspelling(),
        FingerspellingLexicon(),
        FingerspelledWords(),
    )
}


def list_sources() -> list[str]:
    """Names of every dataset signkit can read, sorted."""
    return sorted(_SOURCES)


def get_source(name: str) -> Source:
    """The parser of dataset ``name`` (case and ``_``/``-`` insensitive); an unknown name lists the known ones."""
    wanted = name.strip().lower().replace("_", "-")
    for known, source in _SOURCES.items():
        if wanted in (known, known.replace("-", "")):
            return source
    raise DatasetError(f"unknown dataset {name!r}; known datasets: {', '.join(list_sources())}")
