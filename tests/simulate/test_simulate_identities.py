"""The members' identity envelopes a simulation seals from its seed (no chain): the same seed seals
the same envelope, which opens for the regulator's key and the member's own and nobody else's."""

from __future__ import annotations

import pytest

from dfmi_py.errors import DisclosureError
from dfmi_py.identity.crypto import Context, Recipient, open_envelope, public_key_of, seal
from dfmi_py.identity.disclosure import open_identity, seal_identity
from dfmi_py.identity.keys import account_public_key, dev_disclosure_key
from dfmi_py.simulate.config import load_simulation_config
from dfmi_py.simulate.plan import make_plan

REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_the_seed_seals_the_same_envelope_for_the_regulator_and_the_member_only() -> None:
    plan = make_plan(load_simulation_config(None, {"members.count": 3, "trades.count": 4}))
    member, other = plan.members[0], plan.members[1]
    context = Context(31337, REGISTRY, member.address)
    regulator = public_key_of(dev_disclosure_key())
    own = account_public_key(bytes(member.account.key))

    def sealed(seed: int) -> bytes:
        return seal_identity(member.identity, context, 1, regulator, own, entropy=member.identity_entropy(seed))

    envelope = sealed(7)
    assert sealed(7) == envelope
    assert sealed(8) != envelope
    assert seal_identity(member.identity, context, 1, regulator, own) != envelope  # the system's randomness
    assert open_identity(envelope, dev_disclosure_key(), context) == (member.identity, Recipient.REGULATOR)
    assert open_identity(envelope, bytes(member.account.key), context) == (member.identity, Recipient.ACCOUNT)
    with pytest.raises(DisclosureError):
        open_identity(envelope, bytes(other.account.key), context)


def test_a_drawn_ephemeral_key_skips_bytes_that_are_no_private_key() -> None:
    """After the content key, the source gives zero and then a number above the curve's order,
    neither a secp256k1 private key: both are skipped and the next draw is the ephemeral key
    (its public key in the envelope's recipient entry, after the 38-byte prefix and the entry's
    kind); the envelope opens."""
    ephemeral = bytes([1]) * 32
    draws = iter([bytes([5]) * 32, bytes(32), bytes([0xFF]) * 32, ephemeral])

    def entropy(size: int) -> bytes:
        return next(draws)[:size]

    key = dev_disclosure_key()
    context = Context(31337, REGISTRY, REGISTRY)
    envelope = seal(b"{}", context, 1, {Recipient.REGULATOR: public_key_of(key)}, entropy=entropy)
    assert envelope[39:72] == public_key_of(ephemeral)
    assert open_envelope(envelope, key, context).plaintext == b"{}"
