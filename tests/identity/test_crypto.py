"""Identity envelopes: who opens them (the regulator, the account, nobody else), and that any
change — a byte, the account, the chain, the registry — makes them open for nobody, always with a
clean DisclosureError."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_account import Account
from eth_account.messages import encode_defunct

from dfmi_py.chain import dev_account
from dfmi_py.errors import DfmiError, DisclosureError, InputError
from dfmi_py.identity.crypto import (
    FORMAT_VERSION,
    OVERHEAD_BYTES,
    Context,
    Recipient,
    compressed_key,
    envelope_epoch,
    new_private_key,
    open_envelope,
    public_key_of,
    seal,
)
from dfmi_py.identity.disclosure import Identity, open_identity, seal_identity
from dfmi_py.identity.keys import KeyProof, account_public_key, address_of, check_account_key, make_proof
from tests.identity.conftest import ALICE, REGULATOR_SECRET, ROTATED_SECRET

ALICE_ACCOUNT, BOB_ACCOUNT = dev_account(7), dev_account(8)
REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CONTEXT = Context(31337, REGISTRY, ALICE_ACCOUNT.address)


def alice_envelope(epoch: int = 1, regulator_secret: bytes = REGULATOR_SECRET) -> bytes:
    """Alice's record sealed to the regulator and to Alice."""
    return seal_identity(
        ALICE, CONTEXT, epoch, public_key_of(regulator_secret), account_public_key(bytes(ALICE_ACCOUNT.key))
    )


ENVELOPE = alice_envelope()


def test_envelope_opensWithTheRegulatorsKeyAndWithTheAccountsOwnKey() -> None:
    assert open_identity(ENVELOPE, REGULATOR_SECRET, CONTEXT) == (ALICE, Recipient.REGULATOR)
    assert open_identity(ENVELOPE, bytes(ALICE_ACCOUNT.key), CONTEXT) == (ALICE, Recipient.ACCOUNT)
    assert envelope_epoch(ENVELOPE) == 1
    assert ENVELOPE[0] == FORMAT_VERSION
    assert len(ALICE.to_json()) == 91
    assert len(ENVELOPE) == OVERHEAD_BYTES[2] + 128  # the record's 91 bytes padded to a multiple of 64


@pytest.mark.parametrize(
    "secret",
    [bytes(BOB_ACCOUNT.key), bytes(dev_account(2).key), ROTATED_SECRET, new_private_key()],
    ids=["another member", "the regulator's signing key", "another regulator key", "a random key"],
)
def test_envelope_opensWithNoOtherKey(secret: bytes) -> None:
    with pytest.raises(DisclosureError, match="opens none of the envelope's 2 recipients"):
        open_identity(ENVELOPE, secret, CONTEXT)


@pytest.mark.parametrize(
    "context",
    [
        Context(31337, REGISTRY, BOB_ACCOUNT.address),
        Context(1, REGISTRY, ALICE_ACCOUNT.address),
        Context(31337, "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", ALICE_ACCOUNT.address),
    ],
    ids=["another account", "another chain", "another registry"],
)
@pytest.mark.parametrize("secret", [REGULATOR_SECRET, bytes(ALICE_ACCOUNT.key)], ids=["regulator", "account"])
def test_envelope_copiedToAnotherContext_opensForNobody(context: Context, secret: bytes) -> None:
    with pytest.raises(DisclosureError, match="another account, chain or registry"):
        open_identity(ENVELOPE, secret, context)


def test_envelope_alteredInAnyByte_opensForNobody() -> None:
    """Every byte of the envelope, flipped, makes it refuse the recipients' keys with DisclosureError
    (the regulator's key tried at even positions, the account's at odd ones: each in every part)."""
    secrets = (REGULATOR_SECRET, bytes(ALICE_ACCOUNT.key))
    for position in range(len(ENVELOPE)):
        altered = bytearray(ENVELOPE)
        altered[position] ^= 0x01
        with pytest.raises(DisclosureError):
            open_identity(bytes(altered), secrets[position % 2], CONTEXT)


@pytest.mark.parametrize(
    "envelope",
    [b"", ENVELOPE[:5], ENVELOPE[:100], ENVELOPE[:-1], ENVELOPE + b"\x00", b"\x01" + b"\xff" * 300, bytes(300)],
    ids=["empty", "header only", "cut in the entries", "cut in the tag", "one byte more", "garbage", "zeros"],
)
def test_envelope_malformed_isACleanDisclosureError(envelope: bytes) -> None:
    with pytest.raises(DisclosureError):
        open_identity(envelope, REGULATOR_SECRET, CONTEXT)


def test_recipient_entriesSwapped_opensForNobody() -> None:
    """Each entry's kind is bound to its wrapped key: the account's entry relabelled as the
    regulator's (and the other way round) opens for neither."""
    prefix, first, second, rest = ENVELOPE[:38], ENVELOPE[38:120], ENVELOPE[120:202], ENVELOPE[202:]
    swapped = prefix + bytes([second[0]]) + first[1:] + bytes([first[0]]) + second[1:] + rest
    for secret in (REGULATOR_SECRET, bytes(ALICE_ACCOUNT.key)):
        with pytest.raises(DisclosureError):
            open_identity(swapped, secret, CONTEXT)


def test_seal_isRandomised_andNamesItsEpoch() -> None:
    again = alice_envelope()
    assert again != ENVELOPE
    assert open_identity(again, REGULATOR_SECRET, CONTEXT)[0] == ALICE
    assert envelope_epoch(alice_envelope(epoch=7)) == 7


def test_seal_refusesBadRecipientsAndEpochs() -> None:
    regulator = public_key_of(REGULATOR_SECRET)
    with pytest.raises(InputError, match="1 to 8 recipients"):
        seal(b"x", CONTEXT, 1, {})
    for epoch in (0, 2**32):
        with pytest.raises(InputError, match="out of range"):
            seal(b"x", CONTEXT, epoch, {Recipient.REGULATOR: regulator})
    with pytest.raises(InputError, match="not a secp256k1 public key"):
        seal(b"x", CONTEXT, 1, {Recipient.REGULATOR: b"\x02" + bytes(32)})  # x = 0 is not on the curve


def test_envelope_withOneRecipient_opensForItAlone() -> None:
    envelope = seal(b"record", CONTEXT, 3, {Recipient.REGULATOR: public_key_of(REGULATOR_SECRET)})
    opened = open_envelope(envelope, REGULATOR_SECRET, CONTEXT)
    assert (opened.recipient, opened.epoch, opened.plaintext) == (Recipient.REGULATOR, 3, b"record")
    with pytest.raises(DisclosureError, match="opens none of the envelope's 1 recipients"):
        open_envelope(envelope, bytes(ALICE_ACCOUNT.key), CONTEXT)


def test_envelope_opensAsAStandardEciesReceiverWould() -> None:
    """Interoperability: a reader that uses the cryptography library's primitives directly, from the
    documented layout and labels, opens the regulator's entry (no hidden step in this module)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    regulator = ec.derive_private_key(int.from_bytes(REGULATOR_SECRET, "big"), ec.SECP256K1())
    own = regulator.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    context = b"dfmi-identity" + bytes([1]) + (31337).to_bytes(32, "big")
    context += bytes.fromhex(REGISTRY[2:]) + bytes.fromhex(ALICE_ACCOUNT.address[2:])
    kind, ephemeral, wrapped = ENVELOPE[38], ENVELOPE[39:72], ENVELOPE[72:120]
    assert kind == Recipient.REGULATOR
    shared = regulator.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), ephemeral))
    wrapping = HKDF(hashes.SHA256(), 32, None, b"dfmi-identity/wrap" + ephemeral + own).derive(shared)
    content_key = AESGCM(wrapping).decrypt(bytes(12), wrapped, context + ENVELOPE[:38] + bytes([kind]))
    assert hashlib.sha256(b"dfmi-identity/commit" + content_key).digest() == ENVELOPE[6:38]
    plaintext = AESGCM(content_key).decrypt(bytes(12), ENVELOPE[202:], context + ENVELOPE[:202])
    assert plaintext == ALICE.to_json() + b" " * 37


def _wrap(content_key: bytes, kind: Recipient, recipient: bytes, associated: bytes) -> bytes:
    """A recipient entry wrapping ``content_key`` to ``recipient``, built from the documented layout."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    ephemeral = ec.generate_private_key(ec.SECP256K1())
    ephemeral_public = ephemeral.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), recipient)
    info = b"dfmi-identity/wrap" + ephemeral_public + recipient
    wrapping = HKDF(hashes.SHA256(), 32, None, info).derive(ephemeral.exchange(ec.ECDH(), point))
    return (
        bytes([kind]) + ephemeral_public + AESGCM(wrapping).encrypt(bytes(12), content_key, associated + bytes([kind]))
    )


def test_key_commitment_aRecipientEntryWrappingAnotherKey_isRefused() -> None:
    """Everyone who opens an envelope reads the same record: an envelope built so that the
    regulator's entry wraps another content key than the committed one (the first step of making
    it read as another record to the regulator, AES-GCM not committing to its key) does not open
    for the regulator, while the account reads its record."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    context = CONTEXT.associated_data()
    content_key, other_key = AESGCM.generate_key(bit_length=256), AESGCM.generate_key(bit_length=256)
    prefix = bytes([1]) + (1).to_bytes(4, "big") + bytes([2])
    prefix += hashlib.sha256(b"dfmi-identity/commit" + content_key).digest()
    header = prefix + _wrap(other_key, Recipient.REGULATOR, public_key_of(REGULATOR_SECRET), context + prefix)
    header += _wrap(content_key, Recipient.ACCOUNT, account_public_key(bytes(ALICE_ACCOUNT.key)), context + prefix)
    forged = header + AESGCM(content_key).encrypt(bytes(12), ALICE.to_json(), context + header)

    assert open_identity(forged, bytes(ALICE_ACCOUNT.key), CONTEXT) == (ALICE, Recipient.ACCOUNT)
    with pytest.raises(DisclosureError, match="key commitment does not verify"):
        open_identity(forged, REGULATOR_SECRET, CONTEXT)


def test_padding_hidesTheLegalNamesLengthWithin64Bytes() -> None:
    account_key = account_public_key(bytes(ALICE_ACCOUNT.key))
    sizes = {
        len(seal_identity(Identity(name, ALICE.lei, "GB"), CONTEXT, 1, public_key_of(REGULATOR_SECRET), account_key))
        for name in ("A", "Alice Capital Markets Ltd", "Alice Capital Markets Limited Partnership")
    }
    assert sizes == {OVERHEAD_BYTES[2] + 128}


# ---------------------------------------------------------------------- keys


def test_public_key_forms_allReadAsOneCompressedKey() -> None:
    key = ec.derive_private_key(int.from_bytes(REGULATOR_SECRET, "big"), ec.SECP256K1()).public_key()
    compressed = key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    uncompressed = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    assert compressed_key(compressed) == compressed_key(uncompressed) == compressed_key(uncompressed[1:]) == compressed
    assert public_key_of(REGULATOR_SECRET) == compressed


@pytest.mark.parametrize(
    "key",
    [b"", b"\x02" + bytes(31), b"\x04" + bytes(32), b"\x05" + bytes(32), b"\x04" + bytes(64), b"\x02" + bytes(32)],
    ids=["empty", "short", "bad prefix", "unknown prefix", "not on the curve", "x = 0"],
)
def test_public_key_malformed_isRefused(key: bytes) -> None:
    with pytest.raises(InputError, match="not a secp256k1 public key"):
        compressed_key(key)


@pytest.mark.parametrize("secret", [bytes(32), b"\xff" * 32, bytes(31)], ids=["zero", "above the order", "short"])
def test_private_key_invalid_isRefused(secret: bytes) -> None:
    with pytest.raises(InputError, match="private key"):
        open_identity(ENVELOPE, secret, CONTEXT)


def test_account_key_isCheckedAgainstTheAddress() -> None:
    alice_key = account_public_key(bytes(ALICE_ACCOUNT.key))
    assert address_of(alice_key) == ALICE_ACCOUNT.address
    assert check_account_key(ALICE_ACCOUNT.address.lower(), alice_key) == alice_key
    with pytest.raises(InputError, match=f"is {BOB_ACCOUNT.address}'s, not {ALICE_ACCOUNT.address}'s"):
        check_account_key(ALICE_ACCOUNT.address, account_public_key(bytes(BOB_ACCOUNT.key)))


def test_key_proof_roundTrips_andYieldsTheAccountsKey() -> None:
    proof = make_proof(ALICE_ACCOUNT)
    read = KeyProof.from_json(proof.to_json())
    assert read == proof
    assert read.public_key() == account_public_key(bytes(ALICE_ACCOUNT.key))
    assert ALICE_ACCOUNT.address in read.message
    assert "authorises nothing" in read.message


def test_key_proof_signedByAnotherKey_isRefused() -> None:
    """Bob signs Alice's proof message: the recovered key is Bob's, so it is not taken for Alice's."""
    forged = Account.sign_message(encode_defunct(text=make_proof(ALICE_ACCOUNT).message), BOB_ACCOUNT.key)
    proof = KeyProof(ALICE_ACCOUNT.address, bytes(forged.signature))
    with pytest.raises(InputError, match=f"signed by {BOB_ACCOUNT.address}"):
        proof.public_key()


def test_key_proof_ofAnotherMessage_isRefused() -> None:
    proof = make_proof(ALICE_ACCOUNT)
    other = proof.to_json().replace("authorises nothing", "authorises everything")
    with pytest.raises(InputError, match="signs another message"):
        KeyProof.from_json(other)
    signed_other = Account.sign_message(encode_defunct(text="hello"), ALICE_ACCOUNT.key)
    with pytest.raises(InputError, match="signed by"):  # recovers some other key
        KeyProof(ALICE_ACCOUNT.address, bytes(signed_other.signature)).public_key()


@pytest.mark.parametrize(
    "text",
    ["", "{}", '{"account": "0x1", "message": "m", "signature": "0x00"}', '{"account": 1, "message": 2}', "[]"],
)
def test_key_proof_malformed_isAnInputError(text: str) -> None:
    with pytest.raises(InputError):
        KeyProof.from_json(text)


def test_key_proof_badSignature_isAnInputErrorNotARawException() -> None:
    proof = make_proof(ALICE_ACCOUNT)
    for signature in (proof.signature[:64], proof.signature[:64] + b"\x09", bytes(65)):
        with pytest.raises(DfmiError):
            KeyProof(ALICE_ACCOUNT.address, signature).public_key()
