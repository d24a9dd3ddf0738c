"""MinHash signatures stay what they were when the story index stored them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from crawler import signatures

GOLDEN = Path(__file__).parent / "data" / "signatures" / "minhash_golden.json"


def test_signatures_match_the_values_stored_by_earlier_versions():
    # Recorded with datasketch 2.0 MinHash(num_perm=128, seed=SEED, scheme="affine32"),
    # which built the indexes of existing databases.
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert golden["scheme"] == signatures.SCHEME
    for case in golden["cases"]:
        values = signatures.minhash_values(case["shingles"])
        assert values.dtype == np.uint32 and values.shape == (signatures.NUM_PERM,)
        assert values.tolist() == case["values"], case["name"]
        assert signatures.band_hashes(values).tolist() == case["bands"], case["name"]


def test_signatures_ignore_shingle_order_and_repeats():
    words = ["scam compound", "poipet", "raid"]
    first = signatures.minhash_values(words)
    assert signatures.minhash_values(reversed(words * 2)).tolist() == first.tolist()
