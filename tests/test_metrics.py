"""Metrics against independent references: jiwer, nltk, rouge-score, torch.topk and hand-worked examples."""

import random

import numpy as np
import pytest
import torch

from signkit.errors import ConfigError
from signkit.train import metrics as M

WORDS = "the a cat dog sat on mat in house red green blue today tomorrow weather rain sun".split()


def _random_sentences(n: int, seed: int, lo: int = 1, hi: int = 12) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


# ---------------------------------------------------------------- ISLR


def test_topk_hand_example():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 2])
    acc = M.topk_accuracy(scores, labels, ks=(1, 2, 5))
    assert acc["top1"] == pytest.approx(25.0)  # only sample 0
    assert acc["top2"] == pytest.approx(50.0)  # samples 0 and 1
    assert acc["top5"] == pytest.approx(100.0)  # k is capped at the number of classes
    per = M.per_class_accuracy(scores, labels, ks=(1, 2))
    # class 1: 1/2 top-1, 2/2 top-2; class 0: 0/1, 0/1; class 2: 0/1, 0/1
    assert per["per_class_top1"] == pytest.approx(100 * (0.5 + 0 + 0) / 3)
    assert per["per_class_top2"] == pytest.approx(100 * (1 + 0 + 0) / 3)


def test_topk_matches_torch_topk():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(200, 30, generator=g)
    labels = torch.randint(0, 30, (200,), generator=g)
    acc = M.topk_accuracy(scores.numpy(), labels.numpy(), ks=(1, 5))
    for k in (1, 5):
        ref = (scores.topk(k, dim=1).indices == labels[:, None]).any(1).float().mean().item() * 100
        assert acc[f"top{k}"] == pytest.approx(ref)


def test_majority_baseline():
    assert M.majority_baseline([0, 0, 1, 2], [0, 1, 1, 0]) == pytest.approx(50.0)


def test_wer_baselines_are_the_trivial_cslr_answers():
    train = ["C A T", "D O G", "C A T"]
    refs = ["C A R", "B E E S"]  # most frequent "C A T": 1 sub of 3, 1 del + 3 sub of 4 -> 5 errors / 7 words
    out = M.wer_baselines(train, refs)
    assert out["baseline_wer_most_frequent"] == pytest.approx(100 * 5 / 7, abs=0.01)
    assert out["baseline_wer_empty"] == 100.0
    assert M.wer_baselines([], refs) == {}


def test_topk_rejects_bad_shapes():
    with pytest.raises(ConfigError):
        M.topk_accuracy(np.zeros((3, 2)), np.zeros(4, dtype=int))


# ---------------------------------------------------------------- CSLR


def test_wer_equal_costs_agrees_with_jiwer():
    jiwer = pytest.importorskip("jiwer")
    refs = _random_sentences(60, seed=1)
    hyps = _random_sentences(60, seed=2, lo=0)
    hyps = [h if h else "the" for h in hyps]  # jiwer refuses empty hypotheses strings in some versions
    ours = M.wer(refs, hyps, costs="equal")
    out = jiwer.process_words(refs, hyps)
    assert ours.wer == pytest.approx(100 * out.wer)
    assert ours.substitutions + ours.deletions + ours.insertions == out.substitutions + out.deletions + out.insertions
    # and sentence by sentence
    for r, h in zip(refs[:20], hyps[:20], strict=True):
        assert M.wer([r], [h], costs="equal").wer == pytest.approx(100 * jiwer.wer(r, h))


@pytest.mark.parametrize(
    "ref, hyp, expected",  # (correct, sub, del, ins), worked by hand with sclite's penalties sub 4, ins 3, del 3
    [
        ("A B", "B C", (1, 0, 1, 1)),  # D+I (cost 6) beats two substitutions (cost 8)
        ("A B C", "A X C", (2, 1, 0, 0)),  # one substitution (4) beats D+I (6)
        ("A B C D", "B C D A", (3, 0, 1, 1)),  # a rotation: delete A, insert A at the end
        ("A B", "", (0, 0, 2, 0)),
        ("", "A", (0, 0, 0, 1)),
        ("A B C", "X Y", (0, 2, 1, 0)),  # 2 sub + 1 del = 11 < 3 del + 2 ins = 15
    ],
)
def test_sclite_alignment_hand_examples(ref, hyp, expected):
    a = M.align(ref.split(), hyp.split())
    assert (a.correct, a.substitutions, a.deletions, a.insertions) == expected


def test_equal_costs_count_differently_from_sclite():
    # equal costs see two equally cheap alignments of "A B" -> "B C"; sclite's penalties pick del+ins
    assert M.align(["A", "B"], ["B", "C"], M.EQUAL_COSTS).errors == 2
    assert M.wer(["A B"], ["B C"]).to_dict()["del"] == 1


def test_corpus_wer_sums_errors_before_dividing():
    res = M.wer(["A B C D", "E"], ["A B C D", "F"])
    assert res.wer == pytest.approx(100 * 1 / 5) and res.ref_words == 5


def test_phoenix_cleanup_rules():
    assert M.clean_glosses("loc-REGION cl-KOMMEN __EMOTION__ REGEN") == "REGION KOMMEN REGEN"
    assert M.clean_glosses("HEUTE A B C NACHT") == "HEUTE A+B+C NACHT"  # letters spelled one by one are joined
    assert M.clean_glosses("S0NNE HABEN2 WIE AUSSEHEN") == "SONNE HABEN WIE-AUSSEHEN"
    assert M.clean_glosses("REGEN REGEN REGEN SCHNEE") == "REGEN SCHNEE"
    assert M.clean_glosses("NORDRAUM WIND-PLUSPLUS", "phoenix-2014t") == "NORD WIND"
    # the clean-up removes the errors it was written for
    assert M.wer(["REGEN SCHNEE"], ["__LEFTHAND__ REGEN REGEN SCHNEE"], cleanup="phoenix-2014").wer == 0.0
    assert M.wer(["REGEN SCHNEE"], ["__LEFTHAND__ REGEN REGEN SCHNEE"]).wer > 0
    with pytest.raises(ConfigError):
        M.clean_glosses("A", "phoenix-2099")


def test_wer_rejects_unpaired():
    with pytest.raises(ConfigError):
        M.wer(["a"], ["a", "b"])


# ---------------------------------------------------------------- SLT


def test_bleu_1_to_4_match_nltk_and_sacrebleu_default():
    sacrebleu = pytest.importorskip("sacrebleu")
    bleu_nltk = pytest.importorskip("nltk.translate.bleu_score")
    refs = _random_sentences(80, seed=3, lo=5, hi=15)
    rng = random.Random(4)
    # hypotheses: references with some words changed, so that all n-gram orders have matches
    hyps = [" ".join(w if rng.random() < 0.8 else rng.choice(WORDS) for w in r.split()) for r in refs]
    ours = M.bleu(hyps, refs)
    assert ours["bleu4"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    for n in range(1, 5):
        ref = bleu_nltk.corpus_bleu([[r.split()] for r in refs], [h.split() for h in hyps], weights=[1 / n] * n)
        assert ours[f"bleu{n}"] == pytest.approx(100 * ref, abs=1e-6), n


def test_bleu_chinese_is_character_level():
    bleu_nltk = pytest.importorskip("nltk.translate.bleu_score")
    refs = ["今天天气很好我们去公园", "明天会下雨请带伞出门", "他在学校学习手语"]
    hyps = ["今天天气不错我们去公园", "明天下雨请带伞", "他在学校学习手语"]
    ours = M.translation_metrics(hyps, refs, language="zh")
    for n in range(1, 5):
        ref = bleu_nltk.corpus_bleu([[list(r)] for r in refs], [list(h) for h in hyps], weights=[1 / n] * n)
        assert ours[f"bleu{n}"] == pytest.approx(100 * ref, abs=1e-6)
    # ROUGE-L at character level, worked by hand for the last (identical) pair and the first
    lcs = 9  # 今天天气 + 我们去公园
    p, r = lcs / 11, lcs / 11
    hand = (2 * p * r / (p + r) + M.rouge_l([hyps[1]], [refs[1]], "char") / 100 + 1.0) / 3
    assert ours["rougeL"] == pytest.approx(100 * hand)


def test_rouge_l_matches_rouge_score():
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    refs = _random_sentences(50, seed=5)
    hyps = _random_sentences(50, seed=6)
    hyps[0] = refs[0].upper() + ", with Punctuation_and CAPS!"
    expected = np.mean([scorer.score(r, h)["rougeL"].fmeasure for r, h in zip(refs, hyps, strict=True)])
    assert M.rouge_l(hyps, refs) == pytest.approx(100 * expected)


def test_chrf_bounds():
    assert M.chrf(["the cat sat"], ["the cat sat"]) == pytest.approx(100.0)
    assert M.chrf(["xyz"], ["the cat sat"]) == pytest.approx(0.0)
