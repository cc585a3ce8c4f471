"""The tokenizer a model needs, fetched through the zoo's download path instead of assumed in the HF cache.

A model config names its tokenizer (``SigmaConfig.tokenizer``): ``byt5`` needs no files; a name with a
``[[tokenizer]]`` table in a layered registry (``google/mt5-base`` in the built-in one) has its files fetched like
weights: into ``$SIGNKIT_HOME/zoo/models/tokenizer.<owner>--<name>/``, verified and pinned, from
``SIGNKIT_ZOO_MIRROR`` when set, never from the network in offline mode (a one-line error names the missing file
and how to get it); a folder path is read as it is. Any other name is read from the Hugging Face cache, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ZooError
from .cache import MIRROR_ENV, OFFLINE_ENV, is_offline, models_dir
from .downloading import DownloadOptions, cached_path, fetch_file, origin_for
from .registry import TokenizerEntry, load_tokenizer_entries

BYTE_LEVEL = "byt5"
SENTENCEPIECE_FILE = "spiece.model"  # mT5's SentencePiece model


def tokenizer_entry(name: str) -> TokenizerEntry | None:
    """The registry's entry for tokenizer ``name``; None for ``byt5``, a folder, or a name no registry lists."""
    if name == BYTE_LEVEL or Path(name).expanduser().is_dir():
        return None
    return load_tokenizer_entries().get(name)


def fetch_tokenizer(name: str, options: DownloadOptions | None = None) -> Path | None:
    """Make sure the files of tokenizer ``name`` are in the cache; their folder, or None when it has no entry."""
    entry = tokenizer_entry(name)
    if entry is None:
        return None
    zoo_entry = entry.as_entry()
    for spec in entry.files:
        dest = cached_path(zoo_entry, spec)
        origin = origin_for(zoo_entry, spec)
        if not dest.is_file() and origin.remote and is_offline():
            raise ZooError(
                f"tokenizer {name}: {spec.name} is not in the cache ({dest}) and offline mode ({OFFLINE_ENV}/"
                f"HF_HUB_OFFLINE) forbids fetching {origin.location}; run `signkit zoo download MODEL` (it fetches "
                f"the model's tokenizer too) where there is network and copy {dest.parent} into "
                f"{models_dir()}, or set {MIRROR_ENV} to a folder that holds {entry.cache_name}/{spec.name}"
            )
        fetch_file(zoo_entry, spec, options)
    return cached_path(zoo_entry, entry.files[0]).parent


def load_tokenizer(name: str, options: DownloadOptions | None = None) -> Any:
    """The tokenizer ``name`` as `transformers` loads it, its files fetched through the zoo when a registry lists it."""
    from transformers import AutoTokenizer

    from ..models.text import load_tokenizer as from_hf_cache

    folder = fetch_tokenizer(name, options)
    if folder is None and Path(name).expanduser().is_dir():
        folder = Path(name).expanduser()
    if folder is None:
        return from_hf_cache(name)
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, ImportError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = ""
        if (folder / SENTENCEPIECE_FILE).is_file() and not (folder / "tokenizer.json").is_file():
            hint = (
                f"; transformers builds it from {SENTENCEPIECE_FILE}, which needs the sentencepiece package and "
                "protobuf >= 5 (pip install sentencepiece 'protobuf>=5'; mediapipe 0.10.14 pins protobuf 4, so use "
                "another environment), or put the tokenizer.json of a saved tokenizer in that folder"
            )
        raise ZooError(f"tokenizer {name}: the files in {folder} could not be loaded ({first}){hint}") from None


def attach_tokenizer(model: Any, options: DownloadOptions | None = None) -> None:
    """Give a loaded model with a text side (Sigma) its tokenizer now, through the zoo (the model would otherwise look
    for it in the Hugging Face cache on first use). A family without a tokenizer needs none."""
    name = getattr(model.config, "tokenizer", None)
    if name is None or name == BYTE_LEVEL or getattr(model, "_tokenizer", None) is not None:
        return
    model._tokenizer = load_tokenizer(name, options)  # the attribute SigmaModel.tokenizer fills lazily
