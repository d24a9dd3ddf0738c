"""MinHash signatures, their compact stored form, and LSH band hashes.

A signature is ``NUM_PERM`` MinHash values of a text's shingle set, computed exactly as
datasketch 2's ``MinHash(scheme="affine32")`` with a fixed seed computes them (each shingle's
SHA-1 prefix, mixed by MurmurHash3's 32-bit finaliser, then ``a * h + b`` modulo 2**32 with
odd ``a``), so databases built while newswatch used datasketch keep working. Computing it
here needs numpy only; datasketch's package import pulls in scipy.

Only the low byte of each value is stored (b-bit MinHash, 128 bytes per article); the
Jaccard estimate corrects for the 1-in-256 chance that two different minima share a low
byte. The first ``BANDS * ROWS`` full 32-bit values are cut into ``BANDS`` bands
of ``ROWS`` values; each band is hashed to a signed 32-bit integer for the SQLite index.
Two texts become LSH candidates when any band hash is equal: probability
``1 - (1 - J**ROWS)**BANDS`` for Jaccard similarity ``J``.

Changing any constant here changes every stored value: ``SCHEME`` names them, and the index
refuses a database built under another scheme.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable

import numpy as np

NUM_PERM = 128
SEED = 20240501
BANDS = 16
ROWS = 4
SCHEME = f"minhash-affine32-p{NUM_PERM}-s{SEED}-b{BANDS}r{ROWS}-lowbyte-v1"

# A stored byte matches by chance with probability 1/256 even when the minima differ.
_CHANCE = 1.0 / 256.0
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_S32 = np.uint64(32)
_EMPTY = np.uint32(0xFFFFFFFF)


@functools.cache
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``a`` (odd) and ``b`` parameters of ``num_perm`` affine maps.

    numpy's legacy ``RandomState`` stream is frozen by numpy's compatibility policy, so the
    same seed gives the same parameters in every numpy version.
    """
    gen = np.random.RandomState(SEED)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, element-wise (wrapping arithmetic is intended)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def _shingle_hashes(shingles: Iterable[str]) -> np.ndarray:
    """The first four bytes (little-endian) of each shingle's SHA-1, as uint32."""
    digests = b"".join(hashlib.sha1(s.encode("utf-8")).digest()[:4] for s in shingles)
    return np.frombuffer(digests, dtype="<u4").astype(np.uint32)


def minhash_values(shingles: Iterable[str], *, num_perm: int = NUM_PERM) -> np.ndarray:
    """Full 32-bit MinHash values (uint32, length ``num_perm``) of a shingle set.

    Only the default ``num_perm`` gives stored signatures; others are for benchmarks.
    """
    hashes = _shingle_hashes(shingles)
    if not hashes.size:
        return np.full(num_perm, _EMPTY, dtype=np.uint32)
    a, b = _permutations(num_perm)
    return (_fmix32(hashes).reshape(-1, 1) * a + b).min(axis=0)


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
