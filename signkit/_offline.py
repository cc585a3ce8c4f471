"""Offline mode, read in one place: every download signkit makes (zoo files, estimator models, MediaPipe's pose
models) asks `is_offline` before touching the network."""

from __future__ import annotations

import os

OFFLINE_ENV = "SIGNKIT_OFFLINE"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"  # Hugging Face's switch, honoured too: one setting for the whole stack
TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def is_offline() -> bool:
    """True when ``SIGNKIT_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to 1/true/yes/on (any case, spaces ignored)."""
    return any(os.environ.get(var, "").strip().lower() in TRUE_VALUES for var in (OFFLINE_ENV, HF_OFFLINE_ENV))
