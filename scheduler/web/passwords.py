"""Passwords of the web interface: scrypt hashes, compared in constant time.

``[web] password_hash`` holds a line made by :func:`hash_password` (``newswatch
hash-password`` prints one): ``scrypt$N$r$p$SALT$HASH``, salt and hash in URL-safe base64.
``[web] password`` (usually ``"${NEWSWATCH_WEB_PASSWORD}"``) is hashed when the web
interface starts, so the plain text is compared the same way and not kept around.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
# Interactive-login parameters (RFC 7914 section 2): about 50 ms and 16 MiB per check.
COST, BLOCK_SIZE, PARALLELISM = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
_MAX_MEMORY = 64 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAX_MEMORY, dklen=length
    )


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The line to store for ``password``: ``scrypt$N$r$p$SALT$HASH``."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, COST, BLOCK_SIZE, PARALLELISM, HASH_BYTES)
    return f"{SCHEME}${COST}${BLOCK_SIZE}${PARALLELISM}${_b64(salt)}${_b64(digest)}"


def hash_problem(encoded: str) -> str | None:
    """What is wrong with a stored hash line, or None when it can be used."""
    parts = encoded.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return f"not a password hash (expected {SCHEME}$N$r$p$SALT$HASH)"
    if not all(part.isdigit() for part in parts[1:4]):
        return "not a password hash: N, r and p must be numbers"
    n, r, p = (int(part) for part in parts[1:4])
    if n < 2 or n & (n - 1) or 128 * r * n > _MAX_MEMORY or not 0 < p <= 16:
        return "not a usable password hash: its scrypt parameters are out of range"
    try:
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        return "not a password hash: salt and hash must be base64"
    if len(salt) < 8 or len(digest) < 16:
        return "not a password hash: salt or hash too short"
    return None


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` is the one ``encoded`` was made from (constant-time)."""
    if hash_problem(encoded) is not None:
        return False
    _, n, r, p, salt, digest = encoded.strip().split("$")
    expected = _unb64(digest)
    found = _scrypt(password, _unb64(salt), int(n), int(r), int(p), len(expected))
    return hmac.compare_digest(found, expected)
