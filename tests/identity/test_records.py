"""Identity records: each field checked against its standard, one canonical encoding, one-line errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_97_10

from dfmi_py.errors import InputError
from dfmi_py.identity import records
from dfmi_py.identity.disclosure import Identity
from tests.helpers import PURE_EXAMPLES
from tests.identity.conftest import ALICE, BOB, CAROL

#: LEIs published in GLEIF's register (and the python-stdnum documentation's example).
PUBLISHED_LEIS = (
    "5493001KJTIIGC8Y1R12",
    "213800KUD8LAJWSQ9D15",
    "HWUPKR0MPOU8FGXBT394",
    "7LTWFZYICNSX8D621K86",
    "529900T8BM49AURSDO55",
    "INR2EJN1ERAN0W5ZP974",
)


@pytest.mark.parametrize("lei", PUBLISHED_LEIS)
def test_lei_acceptsPublishedLeis(lei: str) -> None:
    assert records.lei(lei) == lei
    assert records.lei(lei.lower()) == lei


@pytest.mark.parametrize(
    ("lei", "problem"),
    [
        ("5493001KJTIIGC8Y1R13", "check digits do not verify"),  # last check digit off by one
        ("5493001KJTIIGC8Y1R21", "check digits do not verify"),  # check digits swapped
        ("5493001KJTIIGC8Y1R1", "20 characters"),  # one character short
        ("5493001KJTIIGC8Y1R120", "20 characters"),  # one too many
        ("5493001KJTIIGC8Y1RA2", "check digits"),  # a letter among the check digits
        ("5493001KJTIIGC8Y-R12", "20 characters"),  # not alphanumeric
        ("", "20 characters"),
    ],
)
def test_lei_refusesBadCodes(lei: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        records.lei(lei)
    assert "\n" not in str(info.value)


def test_lei_refusesATypoInAnyPosition() -> None:
    """Changing any one character of a valid LEI breaks its check digits (MOD 97-10 catches every
    single substitution)."""
    lei = PUBLISHED_LEIS[0]
    for position in range(18):
        replacement = "A" if lei[position] != "A" else "B"
        typo = lei[:position] + replacement + lei[position + 1 :]
        with pytest.raises(InputError, match="check digits do not verify"):
            records.lei(typo)


@settings(max_examples=PURE_EXAMPLES)
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=18, max_size=18))
def test_lei_acceptsExactlyTheCheckDigitsThatVerify(base: str) -> None:
    right = mod_97_10.calc_check_digits(base)
    assert records.lei(base + right) == base + right
    wrong = f"{(int(right) + 1) % 100:02d}"
    with pytest.raises(InputError, match="check digits"):
        records.lei(base + wrong)


@pytest.mark.parametrize(("code", "expected"), [("GB", "GB"), ("de", "DE"), ("US-DE", "US-DE"), ("fr-75c", "FR-75C")])
def test_jurisdiction_acceptsIso3166Codes(code: str, expected: str) -> None:
    assert records.jurisdiction(code) == expected


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("XX", "not an ISO 3166-1 alpha-2"),
        ("US-ZZ", "not an ISO 3166-2"),
        ("GBR", "neither"),
        ("Germany", "neither"),
        ("", "neither"),
    ],
)
def test_jurisdiction_refusesWhatIsNotAnIsoCode(code: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        records.jurisdiction(code)


def test_legal_name_isNormalisedAndBounded() -> None:
    assert records.legal_name("  Société Générale SA ") == "Société Générale SA"
    decomposed = "Socie\u0301te\u0301"  # e + combining acute accent: NFC makes each one character
    assert records.legal_name(decomposed) == "Soci\u00e9t\u00e9"
    assert records.legal_name("x" * records.MAX_LEGAL_NAME_CHARS) == "x" * records.MAX_LEGAL_NAME_CHARS
    for bad, problem in (("   ", "empty"), ("x" * 201, "at most 200"), ("Evil\nCorp", "control character")):
        with pytest.raises(InputError, match=problem):
            records.legal_name(bad)


def test_identity_checksItsFieldsWhenMade() -> None:
    assert Identity(" Bob Trading GmbH", "dfmi00b0b0trading080", "de") == BOB
    with pytest.raises(InputError, match="LEI"):
        Identity("Bob Trading GmbH", "DFMI00B0B0TRADING081", "DE")
    with pytest.raises(InputError, match="jurisdiction"):
        Identity("Bob Trading GmbH", BOB.lei, "ZZ")


@pytest.mark.parametrize("identity", [ALICE, BOB, CAROL, Identity("Ωmega 株式会社", PUBLISHED_LEIS[1], "JP")])
def test_identity_json_roundTripsThroughTheCanonicalEncoding(identity: Identity) -> None:
    encoded = identity.to_json()

    assert Identity.from_json(encoded) == identity
    assert encoded == json.dumps(identity.as_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    spaced = json.dumps({"lei": identity.lei, "jurisdiction": identity.jurisdiction, "legal_name": identity.legal_name})
    assert Identity.from_json(spaced).to_json() == encoded


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("not json", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('{"legal_name": "A", "lei": "5493001KJTIIGC8Y1R12"}', "missing jurisdiction"),
        (
            '{"legal_name": "A", "lei": "5493001KJTIIGC8Y1R12", "jurisdiction": "GB", "email": "a@b"}',
            "unknown email",
        ),
        ('{"legal_name": 7, "lei": "5493001KJTIIGC8Y1R12", "jurisdiction": "GB"}', "legal_name must be a string"),
    ],
)
def test_identity_from_json_refusesBadRecordsWithOneLine(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as info:
        Identity.from_json(text)
    assert "\n" not in str(info.value)
