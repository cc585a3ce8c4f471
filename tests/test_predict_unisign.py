"""`predict` on Uni-Sign's own release format gives Uni-Sign's own output (its beam-4 generation, 100 new tokens).

The reference ids are the ones Uni-Sign's code wrote for the parity fixture (tests/fixtures/unisign, see
tests/test_unisign_parity.py); here the user's predict path runs: the pickles as given, the .pth by path.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from signkit.inference import predict
from signkit.zoo import load

FIXTURE = Path(__file__).parent / "fixtures" / "unisign"
if not (FIXTURE / "reference.npz").is_file():  # pragma: no cover - the fixture ships with the parity test
    pytest.skip("the Uni-Sign parity fixture is not in this tree", allow_module_level=True)
sys.path.insert(0, str(FIXTURE))
import build  # noqa: E402


def test_predict_on_unisign_pickles_writes_what_unisign_writes(tmp_path):
    spec = json.loads((FIXTURE / "keys.json").read_text())
    model = load(build.write_checkpoint(tmp_path / "best_checkpoint.pth", spec), tokenizer=str(FIXTURE / "tokenizer"))
    with np.load(FIXTURE / "reference.npz") as f:
        ref = {k: f[k] for k in f.files}
    pickles = sorted((FIXTURE / "pickles").glob("*.pkl"))
    out = {p.key: p for p in predict(pickles, model, language=build.LANGUAGE)}
    assert set(out) == {name for name, *_ in build.CLIPS}
    for key, p in out.items():
        theirs = model.tokenizer.batch_decode(ref[f"{key}/beam4_ids"][None], skip_special_tokens=True)[0]
        assert p.text == theirs, key
        assert p.task == "slt" and p.flags == []
