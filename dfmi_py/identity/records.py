"""Identity records: what each field must be, and the one canonical JSON encoding of a record.

A record has three fields, each checked against its standard:

- ``legal_name``: the entity's registered name (Unicode NFC, surrounding spaces dropped, at most
  :data:`MAX_LEGAL_NAME_CHARS` characters, no control characters);
- ``lei``: its ISO 17442 Legal Entity Identifier: 18 upper-case letters or digits, then two check
  digits that verify under ISO 7064 MOD 97-10 (checked with python-stdnum);
- ``jurisdiction``: an ISO 3166-1 alpha-2 country code (``DE``) or an ISO 3166-2 subdivision code
  (``US-DE``), as GLEIF records legal jurisdictions (checked against pycountry's ISO lists).

The canonical encoding (:func:`canonical_json`) is the UTF-8 JSON object of the three fields with
sorted keys and no spaces, so one record always encrypts from the same bytes. Bad input raises
:class:`~dfmi_py.errors.InputError` with a one-line message that names the field.

The record itself is :class:`dfmi_py.identity.disclosure.Identity`, which checks its fields with
these functions when it is made.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import pycountry
from stdnum.iso7064 import mod_97_10

from dfmi_py.errors import InputError

#: Longest legal name accepted, in characters (GLEIF's longest legal names are a few hundred).
MAX_LEGAL_NAME_CHARS = 200
#: The record's fields, in the order people read them.
FIELDS = ("legal_name", "lei", "jurisdiction")

_LEI = re.compile(r"[0-9A-Z]{18}[0-9]{2}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z]{2}-[0-9A-Z]{1,3}")


def legal_name(value: object) -> str:
    """``value`` as a legal name: NFC-normalised, surrounding spaces dropped.

    Raises:
        InputError: not a string, empty, longer than :data:`MAX_LEGAL_NAME_CHARS` characters, or
            holding a control character (a line break, say).
    """
    if not isinstance(value, str):
        raise InputError(f"legal_name must be a string, got {type(value).__name__}")
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise InputError("legal_name is empty")
    if len(name) > MAX_LEGAL_NAME_CHARS:
        raise InputError(f"legal_name has {len(name)} characters; at most {MAX_LEGAL_NAME_CHARS}")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InputError(f"legal_name {name!r} holds a control character")
    return name


def lei(value: object) -> str:
    """``value`` as an ISO 17442 LEI (upper case), its check digits verified (ISO 7064 MOD 97-10).

    Raises:
        InputError: not 20 letters and digits ending in two digits, or the check digits do not verify.
    """
    if not isinstance(value, str):
        raise InputError(f"lei must be a string, got {type(value).__name__}")
    code = value.strip().upper()
    if not _LEI.fullmatch(code):
        raise InputError(
            f"LEI {value!r} is not 18 letters or digits followed by 2 check digits (ISO 17442, 20 characters)"
        )
    if not mod_97_10.is_valid(code):
        raise InputError(f"LEI {code}: its check digits do not verify (ISO 7064 MOD 97-10); check for a typo")
    return code


def jurisdiction(value: object) -> str:
    """``value`` as an ISO 3166-1 alpha-2 country code or an ISO 3166-2 subdivision code (upper case).

    Raises:
        InputError: neither form, or not a code in the ISO lists.
    """
    if not isinstance(value, str):
        raise InputError(f"jurisdiction must be a string, got {type(value).__name__}")
    code = value.strip().upper()
    if _COUNTRY.fullmatch(code):
        if pycountry.countries.get(alpha_2=code) is None:
            raise InputError(f"jurisdiction {code}: not an ISO 3166-1 alpha-2 country code")
        return code
    if _SUBDIVISION.fullmatch(code):
        if pycountry.subdivisions.get(code=code) is None:  # type: ignore[no-untyped-call]
            raise InputError(f"jurisdiction {code}: not an ISO 3166-2 subdivision code")
        return code
    raise InputError(
        f"jurisdiction {value!r} is neither an ISO 3166-1 alpha-2 code (DE) nor an ISO 3166-2 code (US-DE)"
    )


def fields_of(data: Mapping[str, Any]) -> dict[str, str]:
    """The three checked fields of a record given as a mapping (parsed JSON).

    Raises:
        InputError: a field missing or unknown, or a value that is not what its field must be.
    """
    missing = [name for name in FIELDS if name not in data]
    unknown = sorted(set(data) - set(FIELDS))
    if missing or unknown:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise InputError(f"an identity record has exactly the fields {', '.join(FIELDS)}: {'; '.join(parts)}")
    return {
        "legal_name": legal_name(data["legal_name"]),
        "lei": lei(data["lei"]),
        "jurisdiction": jurisdiction(data["jurisdiction"]),
    }


def canonical_json(fields: Mapping[str, str]) -> bytes:
    """The canonical encoding of a record's (checked) fields: UTF-8 JSON, sorted keys, no spaces."""
    return json.dumps(dict(fields), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def parse_json(data: bytes | str) -> dict[str, str]:
    """The checked fields of a record encoded as JSON (canonical or not).

    Raises:
        InputError: not UTF-8 JSON, not an object, or its fields are not a valid record.
    """
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"an identity record must be a JSON object: {exc}") from None
    if not isinstance(parsed, dict):
        raise InputError(f"an identity record must be a JSON object, got {type(parsed).__name__}")
    return fields_of(parsed)
