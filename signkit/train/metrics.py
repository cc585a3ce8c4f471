"""Metrics as the field reports them: ISLR top-k, CSLR WER (sclite-style), SLT BLEU / ROUGE-L / chrF.

Each metric is checked in ``tests/test_metrics.py`` against an independent reference: sacrebleu and nltk for BLEU,
the ``rouge-score`` package for ROUGE-L, jiwer and hand-worked sclite alignments for WER. BLEU and chrF are computed
*by* sacrebleu (the field's reference implementation). ROUGE-L is our own LCS (a few lines): it is the only metric
that would need ``rouge-score`` at run time, and that package's default tokenizer drops every non-ASCII character, so
using it for German or Chinese means passing our tokenisation (``rouge_tokens``) as its ``tokenizer=`` anyway.
Scores are percentages (0-100) except where a name says ``count``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

from ..errors import ConfigError, MissingDependencyError

# ---------------------------------------------------------------------------------------------------------------------
# ISLR: top-k accuracy, per instance and per class
# ---------------------------------------------------------------------------------------------------------------------


def _topk_hits(scores: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or labels.shape != (scores.shape[0],):
        raise ConfigError(f"scores must be [N, C] and labels [N]; got {scores.shape} and {labels.shape}")
    k = min(k, scores.shape[1])
    # ties are broken towards the lower class index (stable sort of -score), as torch.topk does on CPU
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (top == labels[:, None]).any(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Per-instance top-k accuracy (%): the share of samples whose label is among the k highest scores."""
    out = {}
    for k in ks:
        hits = _topk_hits(scores, labels, k)
        out[f"top{k}"] = 100.0 * float(hits.mean()) if hits.size else 0.0
    return out


def per_class_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Per-class top-k accuracy (%): top-k accuracy within each class present in ``labels``, averaged over classes.

    WLASL and MS-ASL report both this and the per-instance number; they differ when classes are unbalanced.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    out = {}
    for k in ks:
        hits = _topk_hits(scores, labels, k)
        per = [hits[labels == c].mean() for c in classes]
        out[f"per_class_top{k}"] = 100.0 * float(np.mean(per)) if per else 0.0
    return out


def majority_baseline(train_labels: Sequence[int], eval_labels: Sequence[int]) -> float:
    """Top-1 accuracy (%) of always predicting the most frequent training class: the floor a model must beat."""
    train = np.asarray(train_labels)
    evals = np.asarray(eval_labels)
    if train.size == 0 or evals.size == 0:
        return 0.0
    values, counts = np.unique(train, return_counts=True)
    return 100.0 * float((evals == values[np.argmax(counts)]).mean())


# ---------------------------------------------------------------------------------------------------------------------
# CSLR: word error rate with sclite-style alignment
# ---------------------------------------------------------------------------------------------------------------------

# sclite's (NIST SCTK) default alignment penalties: substitution 4, insertion 3, deletion 3, correct 0. A
# substitution is cheaper than an insertion plus a deletion, but a del+ins pair beats two substitutions: sclite
# reports "A B" -> "B C" as 1 deletion + 1 insertion, where equal costs may report 2 substitutions.
SCLITE_COSTS = (4, 3, 3)
EQUAL_COSTS = (1, 1, 1)


@dataclass
class Alignment:
    """Counts of one aligned (reference, hypothesis) pair and the edit script (``C``, ``S``, ``D``, ``I``)."""

    correct: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    ops: list[str] = field(default_factory=list)

    @property
    def ref_length(self) -> int:
        return self.correct + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def align(ref: Sequence[str], hyp: Sequence[str], costs: tuple[int, int, int] = SCLITE_COSTS) -> Alignment:
    """Minimum-cost alignment of two token sequences; ``costs`` = (substitution, insertion, deletion).

    Ties between equally cheap paths are broken as sclite does when tracing back from the end: match or
    substitution first, then deletion, then insertion.
    """
    sub_c, ins_c, del_c = costs
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1), dtype=np.int64)
    d[:, 0] = np.arange(n + 1) * del_c
    d[0, :] = np.arange(m + 1) * ins_c
    for i in range(1, n + 1):
        r = ref[i - 1]
        for j in range(1, m + 1):
            diag = d[i - 1, j - 1] + (0 if r == hyp[j - 1] else sub_c)
            d[i, j] = min(diag, d[i - 1, j] + del_c, d[i, j - 1] + ins_c)
    out = Alignment()
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (0 if ref[i - 1] == hyp[j - 1] else sub_c):
            if ref[i - 1] == hyp[j - 1]:
                out.correct += 1
                out.ops.append("C")
            else:
                out.substitutions += 1
                out.ops.append("S")
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + del_c:
            out.deletions += 1
            out.ops.append("D")
            i -= 1
        else:
            out.insertions += 1
            out.ops.append("I")
            j -= 1
    out.ops.reverse()
    return out


# The clean-up the RWTH-PHOENIX-Weather 2014 evaluation applies to references and hypotheses before scoring
# (the release's `evaluation/preprocess.sh`, a list of sed rules; rewritten here as a table, applied in order).
# Letters spelled one by one are joined with '+', annotation markers and prefixes dropped, repeats merged.
_SPELL = [
    (r"^([A-Z]) ([A-Z][+ ])", r"\1+\2"),
    (r"[ +]([A-Z]) ([A-Z]) ", r" \1+\2 "),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z][ +])", r"\1+\2"),
    (r"([ +]SCH) ([A-Z][ +])", r"\1+\2"),
    (r"([ +]NN) ([A-Z][ +])", r"\1+\2"),
    (r"([ +][A-Z]) (NN[ +])", r"\1+\2"),
    (r"([ +][A-Z]) ([A-Z])$", r"\1+\2"),
]
_REPEAT = r"(?<![\w-])(\b[A-Z]+(?![\w-])) \1(?![\w-])"
PHOENIX_2014_RULES: list[tuple[str, str]] = [
    (r"loc-", ""),
    (r"cl-", ""),
    (r"qu-", ""),
    (r"poss-", ""),
    (r"lh-", ""),
    (r"S0NNE", "SONNE"),
    (r"HABEN2", "HABEN"),
    (r"__EMOTION__", ""),
    (r"__PU__", ""),
    (r"__LEFTHAND__", ""),
    (r"WIE AUSSEHEN", "WIE-AUSSEHEN"),
    (r"ZEIGEN ", "ZEIGEN-BILDSCHIRM "),
    (r"ZEIGEN$", "ZEIGEN-BILDSCHIRM"),
    *_SPELL,
    (r"([A-Z][A-Z])RAUM", r"\1"),
    (r"-PLUSPLUS", ""),
    (r" +", " "),
    *[(_REPEAT, r"\1")] * 4,
    (r" +", " "),
]
# PHOENIX-2014T's references are already clean; its evaluation applies the same idea to hypotheses.
PHOENIX_2014T_RULES: list[tuple[str, str]] = [
    (r"__LEFTHAND__", ""),
    (r"__EPENTHESIS__", ""),
    (r"__EMOTION__", ""),
    (r"\b__[^_ ]*__\b", ""),
    (r"\bloc-([^ ]*)\b", r"\1"),
    (r"\bcl-([^ ]*)\b", r"\1"),
    (r"\b([^ ]*)-PLUSPLUS\b", r"\1"),
    (r"\b([A-Z][A-Z]*)RAUM\b", r"\1"),
    (r"WIE AUSSEHEN", "WIE-AUSSEHEN"),
    *_SPELL,
    (r" +", " "),
    *[(_REPEAT, r"\1")] * 4,
    (r" +", " "),
]
CLEANUPS = {"phoenix-2014": PHOENIX_2014_RULES, "phoenix-2014t": PHOENIX_2014T_RULES}


def clean_glosses(text: str, rules: str = "phoenix-2014") -> str:
    """Apply a benchmark's gloss clean-up (``phoenix-2014`` or ``phoenix-2014t``) before scoring WER."""
    try:
        table = CLEANUPS[rules]
    except KeyError:
        raise ConfigError(f"unknown gloss clean-up {rules!r}; use one of {', '.join(CLEANUPS)}") from None
    text = text.strip()
    for pattern, repl in table:
        text = re.sub(pattern, repl, text)
    # drop blanks and merge immediate repetitions of the same gloss
    return " ".join(g for g, _ in groupby(text.split()))


@dataclass
class WerResult:
    """Corpus-level WER (%) and its parts: errors are summed over sentences, then divided by reference words."""

    wer: float
    substitutions: int
    deletions: int
    insertions: int
    ref_words: int
    sentences: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "wer": self.wer,
            "sub": self.substitutions,
            "del": self.deletions,
            "ins": self.insertions,
            "ref_words": self.ref_words,
            "sentences": self.sentences,
        }


def wer(
    references: Sequence[str],
    hypotheses: Sequence[str],
    cleanup: str | None = None,
    costs: str | tuple[int, int, int] = "sclite",
) -> WerResult:
    """Corpus WER of space-separated gloss sequences.

    ``costs="sclite"`` aligns with sclite's penalties (sub 4, ins 3, del 3), which all CSLR papers use via the
    PHOENIX scripts; ``costs="equal"`` is plain Levenshtein (jiwer's). ``cleanup`` names a benchmark's
    clean-up rules (``phoenix-2014``, ``phoenix-2014t``) applied to both sides first.
    """
    if len(references) != len(hypotheses):
        raise ConfigError(f"{len(references)} references but {len(hypotheses)} hypotheses; they must pair up")
    cost_table = {"sclite": SCLITE_COSTS, "equal": EQUAL_COSTS}
    if isinstance(costs, str):
        if costs not in cost_table:
            raise ConfigError(f"unknown WER costs {costs!r}; use 'sclite', 'equal' or a (sub, ins, del) tuple")
        costs = cost_table[costs]
    total = Alignment()
    for ref, hyp in zip(references, hypotheses, strict=True):
        if cleanup is not None:
            ref, hyp = clean_glosses(ref, cleanup), clean_glosses(hyp, cleanup)
        a = align(ref.split(), hyp.split(), costs)
        total.correct += a.correct
        total.substitutions += a.substitutions
        total.deletions += a.deletions
        total.insertions += a.insertions
    n = total.ref_length
    rate = 100.0 * total.errors / n if n else (0.0 if total.errors == 0 else float("inf"))
    return WerResult(rate, total.substitutions, total.deletions, total.insertions, n, len(references))


def wer_baselines(train_refs: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """WER (%) of the two trivial CSLR answers, the floor a model must beat: the most frequent training gloss sequence
    for every sample (``baseline_wer_most_frequent``) and empty output (``baseline_wer_empty``: 100 % when there is
    anything to recognise)."""
    if not train_refs or not references:
        return {}
    values, counts = np.unique(np.asarray(list(train_refs), dtype=object), return_counts=True)
    top = str(values[np.argmax(counts)])
    return {
        "baseline_wer_most_frequent": wer(references, [top] * len(references)).wer,
        "baseline_wer_empty": wer(references, [""] * len(references)).wer,
    }


# ---------------------------------------------------------------------------------------------------------------------
# SLT: BLEU-1..4, chrF (sacrebleu), ROUGE-L
# ---------------------------------------------------------------------------------------------------------------------


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise MissingDependencyError("sacrebleu", "metrics") from None
    return sacrebleu


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(references) != len(hypotheses):
        raise ConfigError(f"{len(references)} references but {len(hypotheses)} hypotheses; they must pair up")


def bleu(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "13a") -> dict[str, float]:
    """Corpus BLEU-1..4 (cumulative, uniform n-gram weights, brevity penalty) computed by sacrebleu.

    BLEU-n is sacrebleu's BLEU with ``max_ngram_order=n``; BLEU-4 is sacrebleu's default score. Use
    ``tokenize="zh"`` (character level for Chinese, as CSL-Daily papers report) or ``"char"``.
    """
    _check_pairs(hypotheses, references)
    _sacrebleu()
    from sacrebleu.metrics import BLEU

    out = {}
    for n in range(1, 5):
        metric = BLEU(max_ngram_order=n, tokenize=tokenize)
        out[f"bleu{n}"] = float(metric.corpus_score(list(hypotheses), [list(references)]).score)
    return out


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (character n-gram F-score, sacrebleu defaults: char order 6, beta 2)."""
    _check_pairs(hypotheses, references)
    _sacrebleu()
    from sacrebleu.metrics import CHRF

    return float(CHRF().corpus_score(list(hypotheses), [list(references)]).score)


def _lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_tokens(text: str, tokenize: str = "words") -> list[str]:
    """Tokens for ROUGE-L: lower-cased words (``words``) or characters without spaces (``char``, for Chinese)."""
    if tokenize == "char":
        return [c for c in text.lower() if not c.isspace()]
    if tokenize != "words":
        raise ConfigError(f"unknown ROUGE tokenisation {tokenize!r}; use 'words' or 'char'")
    return re.findall(r"[^\W_]+", text.lower())


def rouge_l(hypotheses: Sequence[str], references: Sequence[str], tokenize: str = "words") -> float:
    """Sentence-level ROUGE-L F1 (LCS-based, beta = 1, as ``rouge-score``), averaged over sentences, in %."""
    _check_pairs(hypotheses, references)
    scores = []
    for hyp, ref in zip(hypotheses, references, strict=True):
        h, r = rouge_tokens(hyp, tokenize), rouge_tokens(ref, tokenize)
        lcs = _lcs_length(r, h)
        if lcs == 0:
            scores.append(0.0)
            continue
        p, rec = lcs / len(h), lcs / len(r)
        scores.append(2 * p * rec / (p + rec))
    return 100.0 * float(np.mean(scores)) if scores else 0.0


def translation_metrics(
    hypotheses: Sequence[str], references: Sequence[str], language: str | None = None
) -> dict[str, float]:
    """BLEU-1..4, ROUGE-L and chrF together; Chinese (``zh``/``zho``/``cmn``) is scored at character level."""
    chinese = (language or "").lower() in ("zh", "zho", "cmn", "chinese")
    out = bleu(hypotheses, references, tokenize="zh" if chinese else "13a")
    out["rougeL"] = rouge_l(hypotheses, references, tokenize="char" if chinese else "words")
    out["chrf"] = chrf(hypotheses, references)
    return out
