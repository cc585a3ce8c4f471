"""Fingerspelled words: real words of each sign language's spoken language (``wordfreq`` word lists), spelled
with that sign language's real letter clips from the ``spoken-to-signed`` lexicon and joined by spoken-to-signed's
own composition (``spoken_to_signed.gloss_to_pose.concatenate_poses``, what sign.mt serves).

A corpus for continuous recognition and translation whose every frame is real signing: ``gloss`` is the letter
sequence (``H E L L O``), ``text`` the word, ``language`` the sign language, ``extra`` the spoken language.

Which words, reproducibly: for each (spoken, signed) pair of the lexicon, the ``pool`` most frequent words of the
spoken language, lower-cased, alphabetic, ``min_letters``..``max_letters`` letters long and written only with letters
that sign language's lexicon has (others are skipped and counted), shuffled with ``seed``; the first ``words`` are
kept (so a smaller corpus is a prefix of a larger one, and its pose files are reused). Letters are matched as the
package's fingerspelling lookup does (longest lexicon entry first, e.g. German ``sch``).

The subset names the split scheme and may set options: ``by-word`` (default; 80/10/10 by a hash of the word, so no
test word is seen in training, in any sign language) or ``by-sign-language`` (``heldout`` sign languages drawn with
``seed`` are the test split; the others are split by word into train and dev), optionally followed by
``,key=value`` options: ``words``, ``pool``, ``min_letters``, ``max_letters``, ``languages`` (``ase+gsg``),
``heldout``, ``seed``. Example: ``--subset by-sign-language,words=200,heldout=3``.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
from collections.abc import Container, Iterator
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import DatasetError, MissingDependencyError
from ..schema import SampleRecord
from ._base import Source, SourceInfo, hash_split, safe_key
from .lexicon import FingerspellingLexicon

if TYPE_CHECKING:
    from ...pose import Pose

SCHEMES = ("by-word", "by-sign-language")
FRAME_STEP = 4  # keep every 4th composed frame: 25-30 fps clips -> 6.25-7.5 fps, >= 3 frames per letter (CPU-sized)
MAX_SIGN_SECONDS = 0.8  # spoken-to-signed's default cap on one sign's duration (concatenate_poses)
# A CTC target of n letters with r adjacent repeats needs n + r frames; a word whose composition is shorter is
# refused when its pose is made (the key named), never trained into a NaN/zero loss. With FRAME_STEP 4 every
# letter keeps >= 3 frames, so this does not happen with the shipped lexicon (checked in tests).


@dataclass(frozen=True)
class WordOptions:
    """What selects the words; every field is recorded in dataset.json."""

    scheme: str = "by-word"
    words: int = 40  # per sign language: 17 sign languages x 40 = 680 words, composed in a few CPU minutes
    pool: int = 5000  # most frequent words of the list considered
    min_letters: int = 3
    max_letters: int = 6
    languages: tuple[str, ...] = ()  # sign languages to use (ISO 639-3); empty = every one with a word list
    heldout: int = 4  # by-sign-language: sign languages held out as the test split
    seed: int = 0

    @classmethod
    def parse(cls, subset: str | None) -> WordOptions:
        if subset is None or not subset.strip():
            return cls()
        scheme, *items = [s.strip() for s in subset.split(",")]
        scheme = scheme.lower().replace("_", "-")
        if scheme not in SCHEMES:
            raise DatasetError(
                f"fs-words: unknown split scheme {scheme!r}; use {' or '.join(SCHEMES)}, optionally "
                "followed by ,words=N,languages=ase+gsg,heldout=N,seed=N"
            )
        known = {f.name: f for f in fields(cls) if f.name != "scheme"}
        values: dict[str, Any] = {"scheme": scheme}
        for item in items:
            key, _, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if key not in known or not value:
                raise DatasetError(f"fs-words: option {item!r} should be key=value with key one of {', '.join(known)}")
            if key == "languages":
                values[key] = tuple(sorted(v.strip() for v in value.split("+") if v.strip()))
            else:
                try:
                    values[key] = int(value)
                except ValueError:
                    raise DatasetError(f"fs-words: option {key} must be an integer, got {value!r}") from None
        opts = cls(**values)
        if opts.words < 1 or opts.pool < 1 or not 1 <= opts.min_letters <= opts.max_letters or opts.heldout < 0:
            raise DatasetError(f"fs-words: options out of range: {subset!r}")
        return opts

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _import(name: str):
    try:
        return __import__(name, fromlist=["_"])
    except ImportError:
        package = {"wordfreq": "wordfreq", "spoken_to_signed": "spoken-to-signed"}[name.split(".")[0]]
        raise MissingDependencyError(package, "fs-words") from None


def segment(word: str, alphabet: list[str]) -> list[str] | None:
    """The lexicon entries that spell ``word`` (lower case), matched as spoken-to-signed's fingerspelling lookup
    does: the longest entry found anywhere in the word first, then the parts left and right of it; None when a
    character has no entry."""
    if not word:
        return []
    for key in alphabet:  # sorted longest first
        i = word.find(key)
        if i >= 0:
            left, right = segment(word[:i], alphabet), segment(word[i + len(key) :], alphabet)
            return None if left is None or right is None else [*left, key, *right]
    return None


def letter_token(term: str) -> str:
    """The gloss token of a lexicon entry: upper case where that keeps its length (``ß`` stays ``ß``)."""
    up = term.upper()
    return up if len(up) == len(term) else term


class _Alphabets:
    """The lexicon's letters per (spoken, signed) pair, with mirrored sign languages (same clips) left out."""

    def __init__(self, root: Path):
        stt = _import("spoken_to_signed.gloss_to_pose.lookup")
        self.lookup = stt.CSVPoseLookup(str(root))
        own = {}  # pose file -> the first sign language that lists it (as the lexicon source keeps it)
        for _, row, _ in FingerspellingLexicon()._kept(root):
            own[row["path"]] = row["signed_language"]
        self.pairs: dict[str, str] = {}  # signed -> spoken
        self.mirrors: dict[str, str] = {}  # signed -> the sign language whose clips it reuses
        for spoken, per_signed in self.lookup.words_index.items():
            for signed, entries in per_signed.items():
                owners = {own.get(r["path"]) for rows in entries.values() for r in rows}
                if owners == {signed}:
                    self.pairs[signed] = spoken
                else:
                    self.mirrors[signed] = ",".join(sorted(o for o in owners if o))

    def alphabet(self, signed: str) -> list[str]:
        entries = self.lookup.words_index[self.pairs[signed]][signed]
        return sorted(entries, key=len, reverse=True)

    def row(self, signed: str, key: str) -> dict:
        return self.lookup.words_index[self.pairs[signed]][signed][key][0]  # the row the package's lookup uses


@lru_cache(maxsize=4)
def _alphabets(root: str) -> _Alphabets:
    return _Alphabets(Path(root))


def _word_list(spoken: str, pool: int) -> tuple[list[str], str]:
    """The ``pool`` most frequent words of ``spoken`` and how they were obtained; ``([], "")`` without a list."""
    wordfreq = _import("wordfreq")
    try:
        return wordfreq.top_n_list(spoken, pool), f"wordfreq.top_n_list({spoken!r}, {pool})"
    except LookupError:
        return [], ""


class FingerspelledWords(Source):
    info = SourceInfo(
        name="fs-words",
        title="Fingerspelled words composed from the sign.mt letter clips (spoken-to-signed + wordfreq)",
        task="CSLR",
        sign_language="mul",
        spoken_language="mul",
        classes=None,
        splits=("train", "dev", "test"),
        licence="MIT (spoken-to-signed letter clips); word lists: wordfreq (Apache-2.0 code, CC-BY-SA data)",
        url="https://pypi.org/project/spoken-to-signed/",
        files=("index.csv",),
        media="composed from {signed_language}/*.pose letter clips (MediaPipe Holistic), 6.25-7.5 fps",
        subsets=SCHEMES,
        keypoints=True,
        notes="gloss = letters, text = word; --subset by-word (default) | by-sign-language[,words=N,...]; "
        "needs pip install 'signkit[fs-words]'",
    )

    def default_root(self) -> Path | None:
        return FingerspellingLexicon().default_root()

    def check_subset(self, subset: str) -> str:
        WordOptions.parse(subset)
        return subset

    def records(self, root: str | os.PathLike | None, subset: str | None = None) -> list[SampleRecord]:
        return self.select(self.resolve_root(root), WordOptions.parse(subset))[0]

    def classes(self, root: str | os.PathLike | None, subset: str | None = None) -> list[str]:
        WordOptions.parse(subset)
        return []  # a CSLR/SLT corpus: letters are the gloss vocabulary, no class labels

    def provenance(self, root: str | os.PathLike | None, subset: str | None = None) -> dict[str, Any]:
        """The word list and the composition, for dataset.json."""
        return self.select(self.resolve_root(root), WordOptions.parse(subset))[1]

    def select(self, root: Path, opts: WordOptions) -> tuple[list[SampleRecord], dict[str, Any]]:
        """The records and their provenance (cached: reading 18 word lists takes seconds)."""
        records, provenance = _select(str(root), opts)
        return list(records), provenance

    def poses(
        self, root: str | os.PathLike | None, exclude: Container[str] = (), subset: str | None = None
    ) -> Iterator[tuple[str, Pose]]:
        root = self.resolve_root(root)
        composer = Composer(root)
        for record in self.records(root, subset):
            if record.key in exclude:
                continue
            pose = composer.compose(record.language, record.extra["letters"])
            need = ctc_frames(record.gloss.split())
            if pose.num_frames < need:
                raise DatasetError(
                    f"fs-words: sample {record.key} has {pose.num_frames} frames, fewer than the "
                    f"{need} its CTC target needs; report this with the key"
                )
            yield record.key, pose


@lru_cache(maxsize=8)
def _select(root_dir: str, opts: WordOptions) -> tuple[tuple[SampleRecord, ...], dict[str, Any]]:
    alph = _alphabets(root_dir)
    wanted = set(opts.languages)
    unknown = wanted - set(alph.pairs) - set(alph.mirrors)
    if unknown:
        raise DatasetError(
            f"fs-words: no letters for sign language(s) {sorted(unknown)} in the lexicon; "
            f"known: {', '.join(sorted(alph.pairs))}"
        )
    skipped: dict[str, str] = {
        s: f"its clips are those of {m} (the index mirrors them)"
        for s, m in alph.mirrors.items()
        if not wanted or s in wanted
    }
    per_language: dict[str, Any] = {}
    chosen: dict[str, list[tuple[str, list[str]]]] = {}
    for signed in sorted(alph.pairs):
        if wanted and signed not in wanted:
            continue
        spoken = alph.pairs[signed]
        words, listed = _word_list(spoken, opts.pool)
        if not words:
            skipped[signed] = f"wordfreq has no word list for its spoken language {spoken!r}"
            continue
        alphabet = alph.alphabet(signed)
        eligible, lacking, seen = [], 0, set()
        for w in words:
            w = w.lower()
            if w in seen or not w.isalpha():
                continue
            seen.add(w)
            letters = segment(w, alphabet)
            if letters is None:
                lacking += 1  # a letter this lexicon lacks: skipped and counted
                continue
            if opts.min_letters <= len(letters) <= opts.max_letters:
                eligible.append((w, letters))
        random.Random(f"{opts.seed}/{signed}").shuffle(eligible)
        chosen[signed] = eligible[: opts.words]
        per_language[signed] = {
            "spoken_language": spoken,
            "word_list": listed,
            "eligible": len(eligible),
            "kept": len(chosen[signed]),
            "skipped_missing_letters": lacking,
        }
    if not chosen:
        raise DatasetError(f"fs-words: no sign language left to compose (skipped: {skipped})")
    heldout: list[str] = []
    if opts.scheme == "by-sign-language":
        if opts.heldout >= len(chosen):
            raise DatasetError(
                f"fs-words: heldout={opts.heldout} leaves no sign language to train on ({len(chosen)} in use)"
            )
        heldout = sorted(random.Random(opts.seed).sample(sorted(chosen), opts.heldout))
    records = []
    for signed, items in chosen.items():
        for word, letters in items:
            split = hash_split(f"fs-words/{word}")
            if opts.scheme == "by-sign-language":
                split = "test" if signed in heldout else ("train" if split == "train" else "dev")
            key = f"{signed}/{safe_key(word)}"
            records.append(
                SampleRecord(
                    key=key,
                    split=split,
                    source="fs-words",
                    gloss=" ".join(letter_token(alph.row(signed, k)["term"]) for k in letters),
                    text=word,
                    language=signed,
                    media=None,
                    extra={"spoken_language": alph.pairs[signed], "letters": letters},
                )
            )
    provenance = {
        "options": opts.to_dict(),
        "heldout_sign_languages": heldout,
        "languages": per_language,
        "skipped_sign_languages": skipped,
        "composition": {
            "letters": "spoken-to-signed lexicon (index.csv), the row its fingerspelling lookup takes",
            "join": "spoken_to_signed.gloss_to_pose.concatenate_poses(trim=True, max_sign_seconds="
            f"{MAX_SIGN_SECONDS}, hide_idle_hands=True), full Holistic (ConcatenationSettings.is_reduce_holistic"
            " = False), last letter stretched x2 as the package's lookup does; POSE_WORLD_LANDMARKS dropped",
            "frame_step": FRAME_STEP,
            "spoken_to_signed": _version("spoken-to-signed"),
            "wordfreq": _version("wordfreq"),
        },
    }
    return tuple(records), provenance


def ctc_frames(tokens: list[str]) -> int:
    """Frames a CTC alignment of ``tokens`` needs: one per token plus a blank between adjacent repeats."""
    return len(tokens) + sum(a == b for a, b in zip(tokens, tokens[1:], strict=False))


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


class Composer:
    """Words from letter clips with spoken-to-signed's composition, each letter prepared once.

    ``concatenate_poses`` normalises and trims every clip (`process_sign`, whose result depends only on the clip
    and on whether it opens or closes the word) before joining them; those per-letter results are cached here and
    the join (`smooth_concatenate_poses`, `correct_wrists`, `normalize_pose_size`, `hide_lowered_hands`) runs per
    word, in the package's order. `tests/test_fs_words.py` checks the result equals ``concatenate_poses``'s.
    """

    def __init__(self, root: Path):
        self.alph = _alphabets(str(root))
        self._cache: dict[tuple, Any] = {}

    def clip(self, signed: str, key: str, last: bool):
        """The letter's clip as the package's lookup gives it (the last letter stretched x2), world points dropped."""
        pf = _import("pose_format")
        clip, _ = self.alph.lookup.get_pose(self.alph.row(signed, key))
        names = [c.name for c in clip.header.components if c.name != "POSE_WORLD_LANDMARKS"]
        clip = clip.get_components(names)
        if last:
            fps = clip.body.fps
            clip = clip.interpolate(fps * 2)
            clip.body.fps = fps
        return pf.Pose(clip.header, clip.body)

    def _prepared(self, signed: str, key: str, first: bool, last: bool):
        cat = _import("spoken_to_signed.gloss_to_pose.concatenate")
        k = (signed, key, first, last)
        if k not in self._cache:
            pose = cat.normalize_pose(self.clip(signed, key, last))
            self._cache[k] = cat.process_sign(
                pose, keep_onset=first, keep_offset=last, max_sign_seconds=MAX_SIGN_SECONDS
            )
        return self._cache[k]

    def compose_pose_format(self, signed: str, letters: list[str]):
        """The word as a pose-format `Pose` (full Holistic, the package's normalisation)."""
        pf = _import("pose_format")
        cat = _import("spoken_to_signed.gloss_to_pose.concatenate")
        generic = _import("pose_format.utils.generic")
        n = len(letters)
        parts = [self._prepared(signed, k, i == 0, i == n - 1) for i, k in enumerate(letters)]
        parts = [pf.Pose(p.header, p.body[:]) for p in parts]  # the join reassigns bodies: keep the cache intact
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints its progress
            pose = cat.smooth_concatenate_poses(parts)
            pose = generic.correct_wrists(pose)
            generic.normalize_pose_size(pose)
            pose = cat.hide_lowered_hands(pose)
        return pose

    def compose(self, signed: str, letters: list[str]) -> Pose:
        """The word as a signkit `Pose` (MediaPipe Holistic layout, every ``FRAME_STEP``-th frame)."""
        from ...pose import Pose
        from ...pose.io import _read_pose_format

        buf = io.BytesIO()
        self.compose_pose_format(signed, letters).write(buf)
        full = _read_pose_format(buf.getvalue())
        meta = {**full.meta, "source_format": "fs-words (spoken-to-signed concatenate_poses)"}
        return Pose(full.coords[::FRAME_STEP], full.conf[::FRAME_STEP], full.fps / FRAME_STEP, full.layout, meta)


def options(subset: str | None = None, **changes: Any) -> WordOptions:
    """`WordOptions` from a subset string with ``changes`` applied (for Python callers)."""
    return replace(WordOptions.parse(subset), **changes)
