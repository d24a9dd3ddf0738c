"""MinHash signatures, their compact stored form, and LSH band hashes.

A signature is ``NUM_PERM`` MinHash values (datasketch, scheme ``affine32``, fixed seed) of a
text's shingle set. Only the low byte of each value is stored (b-bit MinHash, 128 bytes per
article); the Jaccard estimate corrects for the 1-in-256 chance that two different minima
share a low byte. The first ``BANDS * ROWS`` full 32-bit values are cut into ``BANDS`` bands
of ``ROWS`` values; each band is hashed to a signed 32-bit integer for the SQLite index.
Two texts become LSH candidates when any band hash is equal: probability
``1 - (1 - J**ROWS)**BANDS`` for Jaccard similarity ``J``.

Changing any constant here changes every stored value: ``SCHEME`` names them, and the index
refuses a database built under another scheme.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from datasketch import MinHash

NUM_PERM = 128
SEED = 20240501
BANDS = 16
ROWS = 4
SCHEME = f"minhash-affine32-p{NUM_PERM}-s{SEED}-b{BANDS}r{ROWS}-lowbyte-v1"

# A stored byte matches by chance with probability 1/256 even when the minima differ.
_CHANCE = 1.0 / 256.0
_PERMUTATIONS = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)


def minhash_values(shingles: Iterable[str]) -> np.ndarray:
    """Full 32-bit MinHash values (uint32, length ``NUM_PERM``) of a shingle set."""
    sketch = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", permutations=_PERMUTATIONS)
    sketch.update_batch([s.encode("utf-8") for s in shingles])
    return sketch.hashvalues


def _fmix64(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, element-wise (wrapping arithmetic is intended)."""
    values = values ^ (values >> _S33)
    values = values * _M1
    values = values ^ (values >> _S33)
    values = values * _M2
    return values ^ (values >> _S33)


def band_hashes(values: np.ndarray) -> np.ndarray:
    """Band hashes (int32, shape ``(..., BANDS)``) of MinHash values (shape ``(..., NUM_PERM)``)."""
    banded = values[..., : BANDS * ROWS].reshape(*values.shape[:-1], BANDS, ROWS)
    banded = banded.astype(np.uint64)
    mixed = np.zeros(banded.shape[:-1], dtype=np.uint64)
    for row in range(ROWS):
        mixed = _fmix64(mixed ^ (banded[..., row] + (np.uint64(row) << _S32)))
    return (mixed >> _S32).astype(np.uint32).view(np.int32)


def to_blob(values: np.ndarray) -> bytes:
    """Compact stored form of a signature: the low byte of each value."""
    return (values & 0xFF).astype(np.uint8).tobytes()


def blob_values(blob: bytes) -> np.ndarray:
    """Inverse of :func:`to_blob` (uint8 array of length ``NUM_PERM``)."""
    return np.frombuffer(blob, dtype=np.uint8)


def estimate_jaccard(query: np.ndarray, stored: np.ndarray) -> np.ndarray:
    """Estimated Jaccard of one low-byte signature against rows of stored ones (b-bit MinHash)."""
    agree = (stored == query).mean(axis=-1)
    return np.clip((agree - _CHANCE) / (1.0 - _CHANCE), 0.0, 1.0)


def candidate_probability(jaccard: float, *, bands: int = BANDS, rows: int = ROWS) -> float:
    """Probability that two texts of this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands
