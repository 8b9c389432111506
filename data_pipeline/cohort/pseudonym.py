"""Pseudonymous case keys: a keyed hash of the PatientID with a per-cohort secret salt.

Why keyed (HMAC) and not a plain hash: PatientIDs are short and often sequential, so a
plain SHA-256 of one can be reversed by hashing every candidate. With a secret salt
that never enters the repository, the key links a patient's scans without revealing
who the patient is.

Where the salt comes from, first match wins:

1. the ``path`` argument of :func:`load_salt`;
2. the file named by the environment variable ``STROKE_COHORT_SALT_FILE``;
3. the environment variable ``STROKE_COHORT_SALT`` itself (hex).

Make one per cohort and keep it with the data, outside any git work tree::

    python -c "import secrets; print(secrets.token_hex(32))" > ~/secrets/cohort.salt
    export STROKE_COHORT_SALT_FILE=~/secrets/cohort.salt

Losing the salt only means keys cannot be re-derived; leaking it lets anyone holding
PatientIDs link them to keys.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

__all__ = ["SALT_ENV", "SALT_FILE_ENV", "SaltError", "case_key_from_patient_id", "load_salt"]

SALT_FILE_ENV = "STROKE_COHORT_SALT_FILE"
SALT_ENV = "STROKE_COHORT_SALT"
_MIN_SALT_BYTES = 16
_KEY_HEX_DIGITS = 12
_HOW = (
    f'make one with: python -c "import secrets; print(secrets.token_hex(32))" > FILE '
    f"(outside the repository) and set {SALT_FILE_ENV}=FILE"
)


class SaltError(ValueError):
    """The cohort salt is missing, too short, or stored where it could be committed."""


def case_key_from_patient_id(patient_id: str, salt: bytes) -> str:
    """Return the pseudonymous key ``p-`` + 12 hex digits of HMAC-SHA256(salt, PatientID).

    12 hex digits (48 bits) keep collisions negligible for any cohort size a lab has
    (about 1e-6 at 25 000 patients) while staying short enough for tables.

    >>> case_key_from_patient_id("12345", b"0123456789abcdef")
    'p-0a701f96e573'
    """
    if len(salt) < _MIN_SALT_BYTES:
        raise SaltError(
            f"the salt has {len(salt)} bytes, expected at least {_MIN_SALT_BYTES}; {_HOW}"
        )
    digest = hmac.new(salt, patient_id.strip().encode("utf-8"), hashlib.sha256).hexdigest()
    return "p-" + digest[:_KEY_HEX_DIGITS]


def load_salt(path: Path | None = None) -> bytes:
    """Read the cohort's secret salt (see the module docstring for where it is looked up).

    A salt file holds hex digits (as ``secrets.token_hex`` writes them) or raw bytes.

    Raises:
        SaltError: no salt found, a salt shorter than 16 bytes, or a salt file inside a
            git work tree (where it could be committed by accident).
    """
    if path is None and os.environ.get(SALT_FILE_ENV):
        path = Path(os.environ[SALT_FILE_ENV]).expanduser()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SaltError(f"salt file {path} not found; {_HOW}")
        repo = _enclosing_git_repo(path)
        if repo is not None:
            raise SaltError(
                f"salt file {path} lies inside the git work tree {repo}; move it outside any "
                "repository so that it cannot be committed"
            )
        salt = _decode(path.read_bytes().strip())
    elif os.environ.get(SALT_ENV):
        salt = _decode(os.environ[SALT_ENV].strip().encode("ascii"))
    else:
        raise SaltError(f"no cohort salt: neither {SALT_FILE_ENV} nor {SALT_ENV} is set; {_HOW}")
    if len(salt) < _MIN_SALT_BYTES:
        raise SaltError(
            f"the salt has {len(salt)} bytes, expected at least {_MIN_SALT_BYTES}; {_HOW}"
        )
    return salt


def _decode(raw: bytes) -> bytes:
    try:
        return bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return raw


def _enclosing_git_repo(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if (parent / ".git").exists():
            return parent
    return None
