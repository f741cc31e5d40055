"""disclosure_from: what each reader's key discloses of the identities recorded in the registry's
events — the regulator's key all, an account's key its own, no key or another key nothing, each
with a note saying so — reading the latest record of each account."""

from __future__ import annotations

import dataclasses

import pytest

from dfmi_py.api.compliance import Compliance, RegulatorKey
from dfmi_py.errors import InputError
from dfmi_py.identity.crypto import new_private_key
from dfmi_py.identity.disclosure import NO_KEY_NOTE, Identity, disclosure_from
from dfmi_py.identity.keys import account_public_key
from tests.helpers import Roles, SetupCache
from tests.identity.conftest import ALICE, BOB, CAROL, REGULATOR_SECRET

CORRECTED = Identity("Alice Capital Markets Limited", ALICE.lei, "GB")


@pytest.fixture
def recorded(
    request: pytest.FixtureRequest,
    setup_cache: SetupCache,
    published: RegulatorKey,
    compliance: Compliance,
    roles: Roles,
) -> dict[str, Identity]:
    """Alice, Bob and Carol recorded, then Alice's record corrected: the identities by address."""

    def record() -> dict[str, Identity]:
        people = dict(zip(roles.members[:3], (ALICE, BOB, CAROL), strict=True))
        for account, identity in people.items():
            compliance.record_identity(roles.officer, account.address, identity, account_public_key(bytes(account.key)))
        alice = roles.members[0]
        compliance.record_identity(roles.officer, alice.address, CORRECTED, account_public_key(bytes(alice.key)))
        return {account.address: identity for account, identity in people.items()} | {alice.address: CORRECTED}

    return setup_cache.setup(request, record)


def test_regulators_key_disclosesEveryAccountsLatestIdentity(
    recorded: dict[str, Identity], compliance: Compliance
) -> None:
    events = compliance.identity_events()
    assert [e.name for e in events].count("IdentityRecorded") == 4

    disclosure = disclosure_from(events, REGULATOR_SECRET, compliance.chain.chain_id, compliance.address)

    assert disclosure.identities == recorded
    assert disclosure.note == "identities shown: 3 of 3 accounts"
    assert disclosure.identity(compliance.chain.w3.eth.accounts[0]) is None


def test_accounts_own_key_disclosesItsIdentityAlone(
    recorded: dict[str, Identity], compliance: Compliance, roles: Roles
) -> None:
    bob = roles.members[1]

    disclosure = disclosure_from(
        compliance.identity_events(), bytes(bob.key), compliance.chain.chain_id, compliance.address
    )

    assert disclosure.identities == {bob.address: BOB}
    assert disclosure.note == "identities shown: 1 of 3 accounts (the others are not encrypted to this key)"


def test_no_key_disclosesAddressesOnly_andSaysSo(recorded: dict[str, Identity], compliance: Compliance) -> None:
    disclosure = disclosure_from(compliance.identity_events(), None, compliance.chain.chain_id, compliance.address)
    assert disclosure.identities == {}
    assert disclosure.note == NO_KEY_NOTE
    assert "addresses only" in disclosure.note


@pytest.mark.parametrize(
    "key", ["another member", "the regulator's signing key", "random"], ids=lambda name: name.replace(" ", "-")
)
def test_a_key_that_opens_none_saysSo(
    recorded: dict[str, Identity], compliance: Compliance, roles: Roles, key: str
) -> None:
    secret = {
        "another member": bytes(roles.members[4].key),
        "the regulator's signing key": bytes(roles.regulator.key),
        "random": new_private_key(),
    }[key]

    disclosure = disclosure_from(compliance.identity_events(), secret, compliance.chain.chain_id, compliance.address)

    assert disclosure.identities == {}
    assert disclosure.note == (
        "identities not shown: the key given opens none of the 3 recorded identities (addresses only)"
    )


def test_events_of_another_registry_or_chain_discloseNothing(
    recorded: dict[str, Identity], compliance: Compliance
) -> None:
    """Envelopes are bound to their chain and registry: read as another registry's or chain's
    (a copy of the events elsewhere), they open for nobody."""
    events = compliance.identity_events()
    other = "0x" + "ab" * 20
    moved = [dataclasses.replace(e, address=other) for e in events]
    chain_id = compliance.chain.chain_id

    assert disclosure_from(moved, REGULATOR_SECRET, chain_id, other).identities == {}
    assert disclosure_from(events, REGULATOR_SECRET, chain_id + 1, compliance.address).identities == {}
    assert disclosure_from(events, REGULATOR_SECRET, chain_id, other).note == (
        "identities not shown: no identity is recorded (addresses only)"
    )


def test_events_in_any_order_discloseTheLatestRecord(recorded: dict[str, Identity], compliance: Compliance) -> None:
    events = list(reversed(compliance.identity_events()))

    disclosure = disclosure_from(events, REGULATOR_SECRET, compliance.chain.chain_id, compliance.address)

    assert disclosure.identities == recorded


def test_a_malformed_viewer_key_isAnInputError(recorded: dict[str, Identity], compliance: Compliance) -> None:
    with pytest.raises(InputError, match="private key"):
        disclosure_from(compliance.identity_events(), b"\x01" * 31, compliance.chain.chain_id, compliance.address)


def test_nothing_recorded_saysSo(published: RegulatorKey, compliance: Compliance) -> None:
    disclosure = compliance.disclosure(REGULATOR_SECRET)
    assert disclosure.identities == {}
    assert disclosure.note == "identities not shown: no identity is recorded (addresses only)"


def test_identity_events_readInChunks_sameAsInOneRead(recorded: dict[str, Identity], compliance: Compliance) -> None:
    whole = compliance.identity_events()
    chunked = compliance.identity_events(chunk_blocks=1)
    assert [(e.block, e.log_index, e.name) for e in chunked] == [(e.block, e.log_index, e.name) for e in whole]
    assert all(e.contract == "ComplianceRegistry" and e.timestamp > 0 for e in whole)
    assert compliance.recorded_accounts(whole) == list(recorded)
