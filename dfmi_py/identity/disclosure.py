"""Who is who, for a reader holding a key that opens the recorded identities.

(Interface stub: the implementation lands with the identities.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    """An account's identity record.

    Attributes:
        legal_name: The legal entity's registered name.
        lei: Its ISO 17442 Legal Entity Identifier (20 characters).
        jurisdiction: Its ISO 3166 country (or subdivision) code.
    """

    legal_name: str
    lei: str
    jurisdiction: str


@dataclass(frozen=True)
class Disclosure:
    """The identities a reader could open, by address (checksummed).

    Attributes:
        identities: Every identity the reader's key opened.
        note: What the reader sees, in one line (``"identities shown: 8 of 8 accounts"`` or
            ``"identities not shown: no regulator key given (addresses only)"``).
    """

    identities: dict[str, Identity] = field(default_factory=dict)
    note: str = "identities not shown: no regulator key given (addresses only)"

    def identity(self, address: str) -> Identity | None:
        """The identity of ``address``, or ``None`` when not disclosed to this reader."""
        return self.identities.get(address)
