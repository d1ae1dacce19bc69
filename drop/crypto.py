"""Tokens and secrets: random 128-bit tokens, scrypt password hashes, constant-time checks."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN_SHAPE = re.compile(r"[0-9a-f]{32}")

# scrypt at n=2**14, r=8 costs ~16 MiB and tens of milliseconds: cheap for one download,
# expensive for someone guessing passwords offline from a stolen database.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_token() -> str:
    """128 random bits as 32 lowercase hex characters."""
    return secrets.token_hex(16)


def is_token(value: str) -> bool:
    return TOKEN_SHAPE.fullmatch(value) is not None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
        candidate = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(candidate, bytes.fromhex(digest))


def hash_delete_token(token: str) -> str:
    # A delete token carries 128 random bits, so a fast hash is enough: nobody can
    # brute-force it, and a leaked database must not hand out working delete links.
    return hashlib.sha256(token.encode()).hexdigest()


def verify_delete_token(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_delete_token(token), stored_hash)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024
    )
