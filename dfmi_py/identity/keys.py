"""An account's own public key: where an identity envelope gets it, and how an account proves it.

An address is the last 20 bytes of the keccak-256 of the account's public key, so the address
alone does not give the key an envelope must be encrypted to. Two ways to have it:

- from the account's private key (a development account, or a key the account holder runs the
  toolkit with): :func:`account_public_key`;
- from a *key proof*: the account signs a fixed, harmless message with its wallet (EIP-191
  ``personal_sign``, which every wallet offers), and the public key is recovered from the
  signature (:meth:`KeyProof.public_key`). ``dfmi compliance identity proof`` makes one.

Either way the key is checked against the address (:func:`check_account_key`) before anything is
encrypted to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import defunct_hash_message, encode_defunct
from eth_account.signers.local import LocalAccount
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from dfmi_py.errors import InputError
from dfmi_py.identity.crypto import compressed_key, public_key_of, uncompressed_key
from dfmi_py.node.anvil import DEV_MNEMONIC

#: The text an account signs to prove its public key (``{account}``: its checksummed address).
PROOF_MESSAGE = (
    "dfmi identity key proof\n"
    "account: {account}\n"
    "\n"
    "I sign this so that my identity record can be encrypted to my key. It authorises nothing."
)


#: Where the devnet regulator's disclosure key sits on the development mnemonic: an account path
#: no development account uses (they are m/44'/60'/0'/0/N).
DEV_DISCLOSURE_PATH = "m/44'/60'/1'/0/0"


def dev_disclosure_key() -> bytes:
    """The regulator's disclosure private key on a devnet (the demo's), from the development
    mnemonic at :data:`DEV_DISCLOSURE_PATH`. Everyone knows it: never publish it on a real chain."""
    Account.enable_unaudited_hdwallet_features()
    return bytes(Account.from_mnemonic(DEV_MNEMONIC, account_path=DEV_DISCLOSURE_PATH).key)


def address_of(public_key: bytes) -> str:
    """The (checksummed) address of a secp256k1 public key (any form :func:`compressed_key` takes)."""
    return to_checksum_address(keccak(uncompressed_key(public_key))[-20:])


def account_public_key(private_key: bytes) -> bytes:
    """The compressed public key (33 bytes) of an account's private key."""
    return public_key_of(private_key)


def check_account_key(account: str, public_key: bytes) -> bytes:
    """``public_key`` compressed, after checking that it is ``account``'s key.

    Raises:
        InputError: not a secp256k1 public key, or the key of another address.
    """
    key = compressed_key(public_key)
    owner = address_of(key)
    if owner != to_checksum_address(account):
        raise InputError(f"the public key given is {owner}'s, not {to_checksum_address(account)}'s")
    return key


@dataclass(frozen=True)
class KeyProof:
    """An account's signature of :data:`PROOF_MESSAGE`, from which its public key is recovered.

    Attributes:
        account: The account (checksummed).
        signature: Its 65-byte signature ``r ‖ s ‖ v`` (``v`` 27/28, or 0/1).
    """

    account: str
    signature: bytes

    @property
    def message(self) -> str:
        """The text the account signed."""
        return PROOF_MESSAGE.format(account=self.account)

    def public_key(self) -> bytes:
        """The account's compressed public key, recovered from the signature and checked.

        Raises:
            InputError: the signature is malformed or was made by another key than ``account``'s.
        """
        if len(self.signature) != 65:
            raise InputError(f"a key proof's signature is 65 bytes, got {len(self.signature)}")
        r, s, v = self.signature[:32], self.signature[32:64], self.signature[64]
        recovery = v - 27 if v >= 27 else v
        try:
            signature = Signature(vrs=(recovery, int.from_bytes(r, "big"), int.from_bytes(s, "big")))
            recovered = signature.recover_public_key_from_msg_hash(defunct_hash_message(text=self.message))
        except (BadSignature, ValidationError):
            raise InputError(f"the key proof of {self.account} holds no valid signature") from None
        key = recovered.to_bytes()
        if address_of(key) != self.account:
            raise InputError(f"the key proof of {self.account} was signed by {address_of(key)}")
        return compressed_key(key)

    def to_json(self) -> str:
        """The proof as a JSON document (what ``--proof FILE`` reads)."""
        document = {"account": self.account, "message": self.message, "signature": "0x" + self.signature.hex()}
        return json.dumps(document, indent=2)

    @classmethod
    def from_json(cls, text: str) -> KeyProof:
        """A proof read from :meth:`to_json`'s document.

        Raises:
            InputError: not such a document, or its message is not the proof message of its account.
        """
        try:
            document: Any = json.loads(text)
            account, message, signature = document["account"], document["message"], document["signature"]
            raw = bytes.fromhex(signature.removeprefix("0x"))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
            raise InputError(
                "not a key proof: expected JSON with account, message and signature "
                "(made by `dfmi compliance identity proof`)"
            ) from None
        if not isinstance(account, str) or not is_address(account):
            raise InputError(f"the key proof's account {account!r} is not an address")
        proof = cls(to_checksum_address(account), raw)
        if message != proof.message:
            raise InputError(f"the key proof of {proof.account} signs another message than the proof message")
        return proof


def make_proof(account: LocalAccount) -> KeyProof:
    """``account``'s key proof, signed with its key."""
    address = to_checksum_address(account.address)
    signed = account.sign_message(encode_defunct(text=PROOF_MESSAGE.format(account=address)))
    return KeyProof(address, bytes(signed.signature))
