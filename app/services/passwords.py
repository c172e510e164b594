"""Password hashing (bcrypt) and the password policy: 8–128 characters, not a common password."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

import bcrypt
from flask import current_app, has_app_context

from app.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 128

# A short list of the passwords that top every breach corpus; anything here is refused outright.
COMMON_PASSWORDS = frozenset(
    """
    123456 123456789 12345678 password qwerty123 qwerty1 111111 12345 1234567 123123 1234567890 000000
    qwerty abc123 password1 iloveyou 1q2w3e4r 1q2w3e4r5t qwertyuiop 123321 654321 666666 987654321 7777777
    112233 121212 123qwe 1qaz2wsx zaq12wsx qazwsx password123 passw0rd p@ssw0rd p@ssword welcome welcome1
    admin admin123 administrator letmein letmein1 monkey dragon football baseball sunshine princess
    trustno1 master shadow superman batman starwars whatever freedom michael jennifer charlie jordan23
    hello123 test1234 testtest changeme changeme1 secret secret123 default guest qwerty12 asdfghjk
    asdfghjkl zxcvbnm zxcvbnm1 11111111 00000000 88888888 12341234 abcd1234 aa123456 a1b2c3d4 cargwin
    cargwin1 cargwin123 carloan123 iloveyou1 mustang corvette ferrari porsche911 lexus123 toyota123
    """.split()
)


def validate_password(password: str) -> None:
    """Raise ``ValidationFailed`` naming the problem, or return when the password is acceptable."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"Password must be at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"Password must be at most {MAX_LENGTH} characters", field="password")
    if password.lower() in COMMON_PASSWORDS or len(set(password)) < 3:
        raise ValidationFailed("Password is too common; choose a less predictable one", field="password")


def _prehash(password: str) -> bytes:
    # bcrypt ignores input beyond 72 bytes; a SHA-256 prehash keeps every character of a long password
    # significant. base64 avoids NUL bytes, which bcrypt would also truncate at.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def _rounds() -> int:
    # Tests lower the cost factor (BCRYPT_ROUNDS); production keeps bcrypt's recommended 12.
    return int(current_app.config.get("BCRYPT_ROUNDS", 12)) if has_app_context() else 12


def hash_password(password: str) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds=_rounds())).decode("ascii")


# Hashes imported from the old platform: bcrypt over the raw password (no prehash), marked so they are
# verified the old way and replaced by a current hash at the next successful sign-in.
LEGACY_BCRYPT_PREFIX = "legacy-bcrypt$"


def legacy_hash(old_bcrypt_hash: str) -> str | None:
    """The stored form of an old platform's bcrypt hash, or None when it is not a bcrypt hash."""
    if (
        isinstance(old_bcrypt_hash, str)
        and len(old_bcrypt_hash) == 60
        and old_bcrypt_hash[:4] in ("$2a$", "$2b$", "$2y$")
    ):
        return LEGACY_BCRYPT_PREFIX + old_bcrypt_hash
    return None


def needs_rehash(password_hash: str | None) -> bool:
    return bool(password_hash) and (
        password_hash.startswith(LEGACY_BCRYPT_PREFIX) or f"${_rounds():02d}$" not in password_hash[:7]
    )


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        return False
    try:
        if password_hash.startswith(LEGACY_BCRYPT_PREFIX):
            # bcrypt only ever looked at the first 72 bytes; newer bcrypt libraries refuse longer input.
            raw = password.encode("utf-8")[:72]
            return bcrypt.checkpw(raw, password_hash[len(LEGACY_BCRYPT_PREFIX) :].encode("ascii"))
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


# A real hash to compare against when the account does not exist, so that unknown e-mails take as long
# as wrong passwords and response timing does not reveal which accounts exist.
@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return bcrypt.hashpw(b"not-a-real-password", bcrypt.gensalt(rounds=rounds)).decode("ascii")


def burn_verification_time(password: str) -> None:
    verify_password(password, _dummy_hash(_rounds()))
