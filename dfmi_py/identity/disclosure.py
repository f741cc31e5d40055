"""Who is who, for a reader holding a key that opens the recorded identities.

The compliance registry's ``IdentityRecorded`` events carry each account's identity envelope
(:mod:`dfmi_py.identity.crypto`), encrypted to the regulator's disclosure key and to the account's
own key. :func:`disclosure_from` reads the latest envelope of each account from those events and
opens what the reader's key opens: the regulator's key every record made while it was current,
an account's key its own record, any other key nothing. Without a key the reader sees addresses
only, and the :class:`Disclosure`'s note says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils.address import to_checksum_address

from dfmi_py.errors import DfmiError, DisclosureError, InputError
from dfmi_py.identity import records
from dfmi_py.identity.crypto import Context, Recipient, open_envelope, private_key_of, seal

if TYPE_CHECKING:  # the books import the disclosure: no import of theirs at run time
    from dfmi_py.books.ledger import LedgerEvent

#: The registry event that carries identity envelopes.
IDENTITY_EVENT = "IdentityRecorded"
#: Records are padded with spaces (which JSON ignores) to a multiple of this many bytes before they
#: are encrypted, so an envelope's size tells a legal name's length only to within this.
PAD_BYTES = 64
#: The note of a disclosure made without a key.
NO_KEY_NOTE = "identities not shown: no regulator key given (addresses only)"


@dataclass(frozen=True)
class Identity:
    """An account's identity record, its fields checked when it is made (see :mod:`.records`).

    Attributes:
        legal_name: The legal entity's registered name.
        lei: Its ISO 17442 Legal Entity Identifier (20 characters).
        jurisdiction: Its ISO 3166 country (or subdivision) code.

    Raises:
        InputError: a field is not what it must be (the message names it).
    """

    legal_name: str
    lei: str
    jurisdiction: str

    def __post_init__(self) -> None:
        checked = records.fields_of({"legal_name": self.legal_name, "lei": self.lei, "jurisdiction": self.jurisdiction})
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    def as_dict(self) -> dict[str, str]:
        """The record's fields by name."""
        return {"legal_name": self.legal_name, "lei": self.lei, "jurisdiction": self.jurisdiction}

    def to_json(self) -> bytes:
        """The record's canonical encoding (UTF-8 JSON, sorted keys, no spaces): what is encrypted."""
        return records.canonical_json(self.as_dict())

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Identity:
        """The record of a mapping with exactly its three fields.

        Raises:
            InputError: a field missing, unknown or invalid.
        """
        return cls(**records.fields_of(data))

    @classmethod
    def from_json(cls, data: bytes | str) -> Identity:
        """The record of a JSON object with exactly its three fields.

        Raises:
            InputError: not such a JSON object, or a field invalid.
        """
        return cls(**records.parse_json(data))

    @classmethod
    def load(cls, path: Path) -> Identity:
        """The record in the JSON file ``path``.

        Raises:
            InputError: the file cannot be read, or does not hold a valid record.
        """
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the identity file {path}: {exc.strerror}") from None
        try:
            return cls.from_json(data)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


@dataclass(frozen=True)
class Disclosure:
    """The identities a reader could open, by address (checksummed).

    Attributes:
        identities: Every identity the reader's key opened.
        note: What the reader sees, in one line (``"identities shown: 8 of 8 accounts"`` or
            ``"identities not shown: no regulator key given (addresses only)"``).
    """

    identities: dict[str, Identity] = field(default_factory=dict)
    note: str = NO_KEY_NOTE

    def identity(self, address: str) -> Identity | None:
        """The identity of ``address``, or ``None`` when not disclosed to this reader."""
        return self.identities.get(address)


def seal_identity(
    identity: Identity,
    context: Context,
    epoch: int,
    regulator_key: bytes,
    account_key: bytes,
    *,
    entropy: Callable[[int], bytes] | None = None,
) -> bytes:
    """``identity``'s envelope: encrypted to the regulator's key of ``epoch`` and to the account's key.

    Args:
        identity: The record.
        context: The chain, registry and account it belongs to.
        epoch: The regulator key's epoch (the registry's current one).
        regulator_key: The regulator's published public key.
        account_key: The account's own public key (check it with
            :func:`dfmi_py.identity.keys.check_account_key` first).
        entropy: A seeded source of the envelope's keys, for reproducible runs with public keys
            only (see :func:`dfmi_py.identity.crypto.seal`); ``None``: the operating system's.
    """
    record = identity.to_json()
    return seal(
        record + b" " * (-len(record) % PAD_BYTES),
        context,
        epoch,
        {Recipient.REGULATOR: regulator_key, Recipient.ACCOUNT: account_key},
        entropy=entropy,
    )


def open_identity(envelope: bytes, secret: bytes, context: Context) -> tuple[Identity, Recipient]:
    """The identity in ``envelope``, opened with the private key ``secret``, and whose entry it opened.

    Raises:
        DisclosureError: the key opens no entry, the envelope is altered, malformed or of another
            context, or it holds no valid record.
        InputError: ``secret`` is not a secp256k1 private key.
    """
    opened = open_envelope(envelope, secret, context)
    try:
        return Identity.from_json(opened.plaintext), opened.recipient
    except InputError as exc:
        raise DisclosureError(f"the identity envelope holds no valid record: {exc}") from None


def latest_envelopes(events: Iterable[LedgerEvent], registry_address: str) -> dict[str, bytes]:
    """The latest identity envelope of each account, from the registry's ``IdentityRecorded`` events."""
    registry = to_checksum_address(registry_address)
    recorded = sorted(
        (e for e in events if e.name == IDENTITY_EVENT and to_checksum_address(e.address) == registry),
        key=lambda e: (e.block, e.log_index),
    )
    return {str(e.log.args["account"]): bytes(e.log.args["envelope"]) for e in recorded}


def disclosure_from(
    events: Iterable[LedgerEvent], viewer_key: bytes | None, chain_id: int, registry_address: str
) -> Disclosure:
    """What ``viewer_key`` discloses of the identities recorded in ``events``.

    Args:
        events: Events of the suite in chain order (others than the registry's identity records
            are ignored).
        viewer_key: The reader's private key (32 bytes): the regulator's disclosure key opens every
            record encrypted to it, an account's key its own record; ``None`` discloses nothing.
        chain_id: The chain's id (the envelopes are bound to it).
        registry_address: The compliance registry's address (the envelopes are bound to it).

    Returns:
        The identities opened, by address, and a one-line note of what is shown.

    Raises:
        InputError: ``viewer_key`` is not a secp256k1 private key.
    """
    envelopes = latest_envelopes(events, registry_address)
    if viewer_key is None:
        return Disclosure()
    private_key_of(viewer_key)  # a malformed key is the caller's mistake, not "opens nothing"
    if not envelopes:
        return Disclosure(note="identities not shown: no identity is recorded (addresses only)")
    opened: dict[str, Identity] = {}
    for account, envelope in envelopes.items():
        try:
            opened[account], _ = open_identity(envelope, viewer_key, Context(chain_id, registry_address, account))
        except DfmiError:
            continue
    total = len(envelopes)
    if not opened:
        note = f"identities not shown: the key given opens none of the {total} recorded identities (addresses only)"
    elif len(opened) < total:
        note = f"identities shown: {len(opened)} of {total} accounts (the others are not encrypted to this key)"
    else:
        note = f"identities shown: {total} of {total} accounts"
    return Disclosure(opened, note)
