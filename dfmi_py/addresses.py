"""Ethereum addresses as the toolkit accepts them: checksummed, a mistyped checksum refused."""

from __future__ import annotations

from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address

from dfmi_py.errors import InputError


def checksum(address: str) -> ChecksumAddress:
    """Checksum ``address`` or raise :class:`InputError` naming it.

    An address in mixed case carries an EIP-55 checksum, and a wrong one is refused: it is a typo
    that would otherwise send money to an account nobody holds. All-lower and all-upper case
    addresses carry none and are accepted.
    """
    try:
        result = to_checksum_address(address)
    except (ValueError, TypeError):
        raise InputError(f"{address!r} is not an Ethereum address") from None
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and address != result:
        raise InputError(f"{address!r} has a wrong EIP-55 checksum (a typo?): did you mean {result}?")
    return result
