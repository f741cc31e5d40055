"""Identity envelopes: a record encrypted once, its key wrapped to each recipient (ECIES over secp256k1).

Every primitive comes from the ``cryptography`` library (OpenSSL); this module only composes
them into the standard hybrid construction and lays out the bytes:

- a fresh random 256-bit *content key* encrypts the record once with AES-256-GCM;
- for each recipient's secp256k1 public key ``P`` (the regulator's published disclosure key, the
  account's own Ethereum key) a fresh *ephemeral* key pair ``(e, E)`` is made; the ECDH secret of
  ``e`` and ``P`` goes through HKDF-SHA256 (``info`` = :data:`WRAP_LABEL` ‖ ``E`` ‖ ``P``, both
  compressed) to a 256-bit *wrapping key*, which encrypts the content key with AES-256-GCM: ECIES
  as SEC 1 describes it, with HKDF and an AEAD for its key derivation and encryption;
- every AES key here (the content key and each wrapping key) is fresh and encrypts exactly one
  message, so each uses the all-zero nonce (as HPKE does for its first message);
- the header carries a *key commitment*, SHA-256(:data:`COMMIT_LABEL` ‖ content key), checked by
  every reader after unwrapping: AES-GCM alone does not commit to its key, so without it an
  envelope could be made to read as one record to the account and as another to the regulator
  (the fix of Albertini et al., "How to Abuse and Fix Authenticated Encryption Without Key
  Commitment", 2022). With it, everyone who opens an envelope reads the same record, and an
  account that opens its own envelope knows what the regulator reads;
- associated data binds the ciphertexts to their context: :data:`CONTEXT_LABEL`, the format
  version, the chain id, the registry's and the account's addresses (:class:`Context`), plus the
  envelope's header (key epoch and every recipient entry). An envelope copied to another account,
  chain or registry, or altered in any byte, opens for nobody.

Envelope layout, format version 1 (the registry reads the first five bytes)::

    version      1 byte    (1)
    epoch        4 bytes   the regulator key epoch, big-endian
    count        1 byte    recipients, 1 to MAX_RECIPIENTS
    commitment   32 bytes  SHA-256(COMMIT_LABEL ‖ content key)
    count x      82 bytes  kind (1: 1 regulator, 2 account) | E (33, compressed) | wrapped key (32 + 16 tag)
    ciphertext   the record's bytes + a 16-byte tag

A reader holding a private key tries each recipient entry (one ECDH each); the entry's tag tells
whether the key opened it.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_utils.address import is_address, to_canonical_address

from dfmi_py.errors import DisclosureError, InputError

#: The envelope format this module writes and reads (its first byte; the registry checks it).
FORMAT_VERSION = 1
#: Start of the associated data of every ciphertext.
CONTEXT_LABEL = b"dfmi-identity"
#: Start of HKDF's ``info`` for a wrapping key.
WRAP_LABEL = b"dfmi-identity/wrap"
#: Start of the hashed input of the key commitment.
COMMIT_LABEL = b"dfmi-identity/commit"
#: Most recipients an envelope may have.
MAX_RECIPIENTS = 8

_CURVE = ec.SECP256K1()
_PREFIX = struct.Struct(">BIB32s")  # version, epoch, count, key commitment
_KEY_BYTES = 32
_TAG_BYTES = 16
_COMPRESSED_BYTES = 33
_ENTRY_BYTES = 1 + _COMPRESSED_BYTES + _KEY_BYTES + _TAG_BYTES
#: Each AES key encrypts one message only (see the module's notes).
_NONCE = bytes(12)
#: Bytes an envelope adds to its record: the header with ``n`` recipients and the record's tag.
OVERHEAD_BYTES = {n: _PREFIX.size + n * _ENTRY_BYTES + _TAG_BYTES for n in range(1, MAX_RECIPIENTS + 1)}


class Recipient(IntEnum):
    """Who a recipient entry of an envelope is for."""

    REGULATOR = 1
    ACCOUNT = 2


@dataclass(frozen=True)
class Context:
    """Where an envelope belongs: it opens only with the same chain, registry and account.

    Attributes:
        chain_id: The chain's id.
        registry: The compliance registry's address.
        account: The address whose identity the envelope holds.
    """

    chain_id: int
    registry: str
    account: str

    def associated_data(self, version: int = FORMAT_VERSION) -> bytes:
        """The context's bytes: label, format version, chain id (32 bytes), registry, account.

        Raises:
            InputError: an address or the chain id is not valid.
        """
        for name, address in (("registry", self.registry), ("account", self.account)):
            if not is_address(address):
                raise InputError(f"{name} {address!r} is not an address")
        if not 0 <= self.chain_id < 2**256:
            raise InputError(f"chain id {self.chain_id} is out of range")
        return (
            CONTEXT_LABEL
            + bytes([version])
            + self.chain_id.to_bytes(32, "big")
            + to_canonical_address(self.registry)
            + to_canonical_address(self.account)
        )


@dataclass(frozen=True)
class Opened:
    """An envelope opened with one key.

    Attributes:
        recipient: Which recipient entry the key opened.
        epoch: The regulator key epoch the envelope names.
        plaintext: The record's bytes.
    """

    recipient: Recipient
    epoch: int
    plaintext: bytes


# ---------------------------------------------------------------------- keys


def private_key_of(secret: bytes) -> ec.EllipticCurvePrivateKey:
    """The secp256k1 private key whose scalar is ``secret`` (32 bytes, big-endian).

    Raises:
        InputError: not 32 bytes, or not a valid scalar (zero, or not below the group order).
    """
    if len(secret) != _KEY_BYTES:
        raise InputError(f"a secp256k1 private key is 32 bytes, got {len(secret)}")
    try:
        return ec.derive_private_key(int.from_bytes(secret, "big"), _CURVE)
    except ValueError:
        raise InputError("not a valid secp256k1 private key (zero, or not below the curve's order)") from None


def new_private_key() -> bytes:
    """A fresh random secp256k1 private key (32 bytes), from the operating system's generator."""
    key = ec.generate_private_key(_CURVE)
    return key.private_numbers().private_value.to_bytes(_KEY_BYTES, "big")


def public_key_of(secret: bytes) -> bytes:
    """The compressed public key (33 bytes) of the private key ``secret``."""
    return _compressed(private_key_of(secret).public_key())


def compressed_key(public_key: bytes) -> bytes:
    """``public_key`` as a checked compressed secp256k1 key (33 bytes).

    Accepts the compressed form (33 bytes, ``02``/``03``), the uncompressed one (65 bytes, ``04``)
    and Ethereum's bare ``x ‖ y`` (64 bytes).

    Raises:
        InputError: another length or prefix, or not a point of the curve.
    """
    return _compressed(_public_key(public_key))


def uncompressed_key(public_key: bytes) -> bytes:
    """``public_key`` (any form :func:`compressed_key` takes) as Ethereum's 64 bytes ``x ‖ y``."""
    return _public_key(public_key).public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]


def _public_key(public_key: bytes) -> ec.EllipticCurvePublicKey:
    encoded = bytes(public_key)
    if len(encoded) == 64:
        encoded = b"\x04" + encoded
    valid_form = (len(encoded) == _COMPRESSED_BYTES and encoded[0] in (2, 3)) or (
        len(encoded) == 65 and encoded[0] == 4
    )
    if not valid_form:
        raise InputError(
            f"not a secp256k1 public key: {len(public_key)} bytes; give 33 (02/03...), 65 (04...) or 64 (x, y)"
        )
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, encoded)
    except ValueError:
        raise InputError("not a secp256k1 public key: the point is not on the curve") from None


def _compressed(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)


def _commitment(content_key: bytes) -> bytes:
    return hashlib.sha256(COMMIT_LABEL + content_key).digest()


def _wrapping_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=None, info=WRAP_LABEL + ephemeral + recipient)
    return hkdf.derive(shared)


# ---------------------------------------------------------------------- sealing and opening


def seal(
    plaintext: bytes,
    context: Context,
    epoch: int,
    recipients: Mapping[Recipient, bytes],
    *,
    entropy: Callable[[int], bytes] | None = None,
) -> bytes:
    """Encrypt ``plaintext`` to every recipient's public key, bound to ``context`` and ``epoch``.

    Args:
        plaintext: The record's bytes.
        context: Where the envelope belongs.
        epoch: The regulator key epoch the regulator's entry is encrypted to (the registry
            refuses an envelope that does not name its current epoch).
        recipients: Each recipient's public key (any form :func:`compressed_key` takes).
        entropy: Where the content key and the ephemeral keys come from (``n`` -> ``n`` bytes);
            ``None``: the operating system's generator. A seeded source seals the same envelope
            again, for reproducible runs whose recipients' keys are public anyway (a devnet's):
            never with a real key, as anyone who knows the seed opens the envelope.

    Raises:
        InputError: no recipient or too many, an epoch out of range, or a key that is not a
            secp256k1 public key.
    """
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise InputError(f"an envelope has 1 to {MAX_RECIPIENTS} recipients, got {len(recipients)}")
    if not 0 < epoch < 2**32:
        raise InputError(f"regulator key epoch {epoch} is out of range (1 to 2**32 - 1)")
    keys = {kind: _public_key(key) for kind, key in recipients.items()}
    context_data = context.associated_data(FORMAT_VERSION)
    content_key = AESGCM.generate_key(bit_length=256) if entropy is None else entropy(_KEY_BYTES)
    prefix = _PREFIX.pack(FORMAT_VERSION, epoch, len(keys), _commitment(content_key))
    entries = b""
    for kind, key in sorted(keys.items()):
        ephemeral = ec.generate_private_key(_CURVE) if entropy is None else _drawn_key(entropy)
        ephemeral_public = _compressed(ephemeral.public_key())
        wrapping = _wrapping_key(ephemeral.exchange(ec.ECDH(), key), ephemeral_public, _compressed(key))
        wrapped = AESGCM(wrapping).encrypt(_NONCE, content_key, context_data + prefix + bytes([kind]))
        entries += bytes([kind]) + ephemeral_public + wrapped
    header = prefix + entries
    return header + AESGCM(content_key).encrypt(_NONCE, plaintext, context_data + header)


def _drawn_key(entropy: Callable[[int], bytes]) -> ec.EllipticCurvePrivateKey:
    """A private key from ``entropy``: the first 32 bytes it gives that are a valid scalar."""
    while True:
        try:
            return private_key_of(entropy(_KEY_BYTES))
        except InputError:
            continue


def envelope_epoch(envelope: bytes) -> int:
    """The regulator key epoch an envelope names.

    Raises:
        DisclosureError: too short to hold a header, or another format version.
    """
    return _header(envelope)[1]


def _header(envelope: bytes) -> tuple[bytes, int, int]:
    """``(prefix, epoch, count)`` of an envelope whose size fits its recipient count."""
    if len(envelope) < _PREFIX.size:
        raise DisclosureError(f"not an identity envelope: {len(envelope)} bytes")
    version, epoch, count, _ = _PREFIX.unpack_from(envelope)
    if version != FORMAT_VERSION:
        raise DisclosureError(
            f"identity envelope format version {version} is not supported (this reads {FORMAT_VERSION})"
        )
    if not 1 <= count <= MAX_RECIPIENTS or len(envelope) < OVERHEAD_BYTES[count]:
        raise DisclosureError(f"malformed identity envelope: {count} recipients in {len(envelope)} bytes")
    return envelope[: _PREFIX.size], epoch, count


def open_envelope(envelope: bytes, secret: bytes, context: Context) -> Opened:
    """Decrypt ``envelope`` with the private key ``secret``, as the envelope of ``context``.

    Raises:
        DisclosureError: the key opens none of its recipient entries (it is not a recipient, or
            the envelope belongs to another account, chain or registry, or was altered), or the
            envelope is malformed.
        InputError: ``secret`` is not a secp256k1 private key.
    """
    key = private_key_of(secret)
    own = _compressed(key.public_key())
    envelope = bytes(envelope)
    prefix, epoch, count = _header(envelope)
    context_data = context.associated_data(FORMAT_VERSION)
    header_end = _PREFIX.size + count * _ENTRY_BYTES
    header = envelope[:header_end]
    for index in range(count):
        entry = envelope[_PREFIX.size + index * _ENTRY_BYTES : _PREFIX.size + (index + 1) * _ENTRY_BYTES]
        kind, ephemeral_public, wrapped = entry[0], entry[1 : 1 + _COMPRESSED_BYTES], entry[1 + _COMPRESSED_BYTES :]
        try:
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ephemeral_public)
        except ValueError:
            continue  # an altered entry: it opens for nobody
        wrapping = _wrapping_key(key.exchange(ec.ECDH(), ephemeral), ephemeral_public, own)
        try:
            content_key = AESGCM(wrapping).decrypt(_NONCE, wrapped, context_data + prefix + bytes([kind]))
        except InvalidTag:
            continue
        if not hmac.compare_digest(_commitment(content_key), prefix[-32:]):
            raise DisclosureError("the identity envelope was altered: its key commitment does not verify")
        try:
            recipient = Recipient(kind)
        except ValueError:
            raise DisclosureError(f"malformed identity envelope: unknown recipient kind {kind}") from None
        try:
            plaintext = AESGCM(content_key).decrypt(_NONCE, envelope[header_end:], context_data + header)
        except InvalidTag:
            raise DisclosureError("the identity envelope was altered: its record does not verify") from None
        return Opened(recipient, epoch, plaintext)
    raise DisclosureError(
        f"this key opens none of the envelope's {count} recipients (it is not one of them, or the envelope "
        "belongs to another account, chain or registry, or was altered)"
    )
