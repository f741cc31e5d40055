"""The registry's identity functions: the regulator's disclosure key (publication, rotation) and the
officer's identity records (who, for whom, what size, which key epoch), with their events.

Invariants checked (see the header of ComplianceRegistry.sol): key epochs start at 1 and grow by
one per publication and a published key never changes; ``identityOf`` is the hash and epoch of the
last recorded envelope, recorded only for onboarded accounts and for the current key epoch;
recording changes no status — in examples, and over random sequences of publications, records and
status changes (``DFMI_IDENTITY_EXAMPLES``, 8 by default). Who may call which function is in
tests/security/test_access_matrix.py.
"""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from dfmi_py.api import Market
from dfmi_py.api.compliance import Compliance, IdentityRecord, RegulatorKey
from dfmi_py.chain import Chain
from dfmi_py.deploy.suite import Deployment
from dfmi_py.errors import ContractRevertError, DisclosureError, InputError
from dfmi_py.identity.crypto import OVERHEAD_BYTES, Recipient, public_key_of, seal
from dfmi_py.identity.disclosure import Identity, open_identity
from dfmi_py.identity.keys import account_public_key
from dfmi_py.identity.records import MAX_LEGAL_NAME_CHARS
from tests.helpers import Roles, Status, events, evm_revert, evm_snapshot, examples, expect_revert
from tests.identity.conftest import ALICE, BOB, CAROL, REGULATOR_SECRET, ROTATED_SECRET


def key_of(account: LocalAccount) -> bytes:
    """A development account's public key."""
    return account_public_key(bytes(account.key))


def envelope_for(compliance: Compliance, account: str, epoch: int, size: int | None = None) -> bytes:
    """A well-formed envelope for ``account`` naming ``epoch`` (its record padded to ``size`` bytes)."""
    record = ALICE.to_json() if size is None else b"x" * (size - OVERHEAD_BYTES[1])
    return seal(record, compliance.context(account), epoch, {Recipient.REGULATOR: public_key_of(REGULATOR_SECRET)})


# ---------------------------------------------------------------------- the regulator's key


def test_publishRegulatorKey_startsEpochOne_emitsAndIsReadBack(
    chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    registry = compliance.contract
    assert compliance.regulator_key() is None
    key = public_key_of(REGULATOR_SECRET)

    receipt = compliance.publish_regulator_key(roles.regulator, key)

    assert events(registry, "RegulatorKeyPublished", receipt) == [
        {"epoch": 1, "publicKey": key, "regulator": roles.regulator.address}
    ]
    assert compliance.regulator_key() == RegulatorKey(1, key)
    assert bytes(registry.functions.regulatorKeyAt(1).call()) == key
    assert bytes(registry.functions.regulatorKeyAt(2).call()) == b""


def test_publishRegulatorKey_rotates_eachKeyKeptUnderItsEpoch(
    published: RegulatorKey, compliance: Compliance, roles: Roles
) -> None:
    rotated = public_key_of(ROTATED_SECRET)

    receipt = compliance.publish_regulator_key(roles.regulator, rotated)

    assert events(compliance.contract, "RegulatorKeyPublished", receipt) == [
        {"epoch": 2, "publicKey": rotated, "regulator": roles.regulator.address}
    ]
    assert compliance.regulator_keys() == [published, RegulatorKey(2, rotated)]
    assert compliance.regulator_key() == RegulatorKey(2, rotated)


@pytest.mark.parametrize(
    "key",
    [b"", b"\x02" + bytes(31), b"\x02" + bytes(33), b"\x04" + bytes(32), b"\x00" + bytes(32), b"\x04" + bytes(64)],
    ids=["empty", "32 bytes", "34 bytes", "prefix 04", "prefix 00", "uncompressed"],
)
def test_publishRegulatorKey_revertsIfNotACompressedKey(
    chain: Chain, compliance: Compliance, roles: Roles, key: bytes
) -> None:
    with expect_revert("ComplianceRegulatorKeyInvalid", publicKey=key):
        chain.transact(compliance.contract.functions.publishRegulatorKey(key), roles.regulator)
    assert compliance.regulator_key() is None


def test_publish_regulator_key_api_refusesAPointOffTheCurveBeforeSending(
    chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    nonce = chain.w3.eth.get_transaction_count(roles.regulator.address)
    with pytest.raises(InputError, match="not on the curve"):
        compliance.publish_regulator_key(roles.regulator, b"\x02" + bytes(32))
    assert chain.w3.eth.get_transaction_count(roles.regulator.address) == nonce


# ---------------------------------------------------------------------- identity records


def test_recordIdentity_storesTheHashAndEpoch_andEmitsTheEnvelope(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    alice = roles.members[0]

    receipt = compliance.record_identity(roles.officer, alice.address, ALICE, key_of(alice))

    [event] = events(compliance.contract, "IdentityRecorded", receipt)
    assert (event["account"], event["epoch"], event["officer"]) == (alice.address, 1, roles.officer.address)
    assert compliance.identity_record(alice.address) == IdentityRecord(keccak(event["envelope"]), 1)
    assert events(compliance.contract, "AccountStatusChanged", receipt) == []
    assert compliance.status(alice.address) is Status.ACTIVE
    context = compliance.context(alice.address)
    assert open_identity(event["envelope"], REGULATOR_SECRET, context) == (ALICE, Recipient.REGULATOR)
    assert open_identity(event["envelope"], bytes(alice.key), context) == (ALICE, Recipient.ACCOUNT)


def test_recordIdentity_again_replacesTheRecord(published: RegulatorKey, compliance: Compliance, roles: Roles) -> None:
    alice = roles.members[0]
    compliance.record_identity(roles.officer, alice.address, ALICE, key_of(alice))
    first = compliance.identity_record(alice.address)

    receipt = compliance.record_identity(roles.officer, alice.address, BOB, key_of(alice))

    [event] = events(compliance.contract, "IdentityRecorded", receipt)
    assert compliance.identity_record(alice.address) == IdentityRecord(keccak(event["envelope"]), 1) != first
    assert compliance.identity_of(alice.address, REGULATOR_SECRET) == BOB


def test_recordIdentity_acceptsAFrozenAccount(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    bob = roles.members[1]
    compliance.freeze(roles.officer, bob.address)

    compliance.record_identity(roles.officer, bob.address, BOB, key_of(bob))

    assert compliance.identity_of(bob.address, bytes(bob.key)) == BOB
    assert compliance.status(bob.address) is Status.FROZEN


@pytest.mark.parametrize("who", ["outsider", "offboarded", "zero"])
def test_recordIdentity_revertsForAnAccountNotOnboarded(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles, who: str
) -> None:
    account = {
        "outsider": roles.outsider.address,
        "offboarded": roles.members[2].address,
        "zero": "0x0000000000000000000000000000000000000000",
    }[who]
    if who == "offboarded":
        compliance.offboard(roles.officer, account)
    envelope = envelope_for(compliance, account, 1)

    with expect_revert("ComplianceInvalidStatus", account=account, actual=Status.NONE):
        chain.transact(compliance.contract.functions.recordIdentity(account, envelope), roles.officer)
    assert compliance.identity_record(account) is None


@pytest.mark.parametrize(("size", "shown"), [(1281, 1281), (0, 0), (4, 4)], ids=["oversize", "empty", "no epoch"])
def test_recordIdentity_revertsIfTheEnvelopeSizeIsOutOfBounds(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles, size: int, shown: int
) -> None:
    alice = roles.members[0].address
    envelope = envelope_for(compliance, alice, 1, size) if size > 200 else b"\x01" * size
    assert len(envelope) == size

    with expect_revert("ComplianceIdentitySize", size=shown, min=5, max=1280):
        chain.transact(compliance.contract.functions.recordIdentity(alice, envelope), roles.officer)
    assert compliance.identity_record(alice) is None


def test_recordIdentity_acceptsTheLargestEnvelope(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    alice = roles.members[0].address
    envelope = envelope_for(compliance, alice, 1, 1280)

    chain.transact(compliance.contract.functions.recordIdentity(alice, envelope), roles.officer)

    assert compliance.identity_record(alice) == IdentityRecord(keccak(envelope), 1)


def test_record_identity_theLongestLegalNameFits(published: RegulatorKey, compliance: Compliance, roles: Roles) -> None:
    """200 characters of four UTF-8 bytes each (and a 5-character subdivision): the largest record."""
    alice = roles.members[0]
    longest = Identity("\U0001d504" * MAX_LEGAL_NAME_CHARS, ALICE.lei, "US-DE")

    compliance.record_identity(roles.officer, alice.address, longest, key_of(alice))

    assert compliance.identity_of(alice.address, REGULATOR_SECRET) == longest


def test_recordIdentity_revertsBeforeAnyRegulatorKey(chain: Chain, compliance: Compliance, roles: Roles) -> None:
    alice = roles.members[0]
    envelope = envelope_for(compliance, alice.address, 1)
    with expect_revert("ComplianceNoRegulatorKey"):
        chain.transact(compliance.contract.functions.recordIdentity(alice.address, envelope), roles.officer)
    with pytest.raises(DisclosureError, match="no disclosure key yet"):
        compliance.record_identity(roles.officer, alice.address, ALICE, key_of(alice))


def test_recordIdentity_revertsForAnotherFormatVersion(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    alice = roles.members[0].address
    envelope = b"\x02" + envelope_for(compliance, alice, 1)[1:]
    with expect_revert("ComplianceIdentityVersion", version=2, expected=1):
        chain.transact(compliance.contract.functions.recordIdentity(alice, envelope), roles.officer)


def test_recordIdentity_revertsForAnEnvelopeToARotatedKey(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    """An envelope sealed before a rotation, sent after it, is refused: new records always go to
    the current key."""
    alice = roles.members[0]
    stale = compliance.seal_identity(alice.address, ALICE, key_of(alice))
    compliance.publish_regulator_key(roles.regulator, public_key_of(ROTATED_SECRET))

    with expect_revert("ComplianceIdentityStaleKey", epoch=1, currentEpoch=2):
        chain.transact(compliance.contract.functions.recordIdentity(alice.address, stale), roles.officer)

    compliance.record_identity(roles.officer, alice.address, ALICE, key_of(alice))
    assert compliance.identity_record(alice.address).epoch == 2  # type: ignore[union-attr]
    assert compliance.identity_of(alice.address, ROTATED_SECRET) == ALICE
    with pytest.raises(DisclosureError):
        compliance.identity_of(alice.address, REGULATOR_SECRET)


def test_record_identity_api_refusesAnotherAccountsKeyBeforeSending(
    published: RegulatorKey, chain: Chain, compliance: Compliance, roles: Roles
) -> None:
    alice, bob = roles.members[0], roles.members[1]
    nonce = chain.w3.eth.get_transaction_count(roles.officer.address)

    with pytest.raises(InputError, match=f"is {bob.address}'s, not {alice.address}'s"):
        compliance.record_identity(roles.officer, alice.address, ALICE, key_of(bob))

    assert chain.w3.eth.get_transaction_count(roles.officer.address) == nonce
    assert compliance.identity_record(alice.address) is None


def test_rotation_theOldKeyOpensOnlyTheOldRecords_theNewOnlyTheNew(
    published: RegulatorKey, compliance: Compliance, roles: Roles
) -> None:
    alice, bob, carol = roles.members[:3]
    compliance.record_identity(roles.officer, alice.address, ALICE, key_of(alice))
    compliance.publish_regulator_key(roles.regulator, public_key_of(ROTATED_SECRET))
    compliance.record_identity(roles.officer, bob.address, BOB, key_of(bob))
    compliance.record_identity(roles.officer, carol.address, CAROL, key_of(carol))

    old = compliance.disclosure(REGULATOR_SECRET)
    new = compliance.disclosure(ROTATED_SECRET)

    assert old.identities == {alice.address: ALICE}
    assert old.note == "identities shown: 1 of 3 accounts (the others are not encrypted to this key)"
    assert new.identities == {bob.address: BOB, carol.address: CAROL}
    assert compliance.disclosure(bytes(carol.key)).identities == {carol.address: CAROL}


def test_identity_of_refusesAnAccountWithoutARecord(
    published: RegulatorKey, compliance: Compliance, roles: Roles
) -> None:
    with pytest.raises(InputError, match="no identity is recorded"):
        compliance.identity_of(roles.members[0].address, REGULATOR_SECRET)


def test_market_readsIdentityEventsFromTheRegistrysDeploymentBlock(deployment: Deployment) -> None:
    compliance = Market.from_deployment(deployment).compliance
    assert compliance.deployed_at == deployment.manifest.contracts["ComplianceRegistry"].block > 0


# ---------------------------------------------------------------------- the invariants, over random sequences

#: Hypothesis examples of the random sequences (more with ``DFMI_IDENTITY_EXAMPLES=200``).
IDENTITY_EXAMPLES = examples(8, "DFMI_IDENTITY_EXAMPLES")
KEYS = tuple(public_key_of(bytes([seed]) * 32) for seed in (0x11, 0x22, 0x33))
STEPS = ("publish", "record", "record stale", "freeze", "unfreeze", "offboard", "onboard")


@settings(max_examples=IDENTITY_EXAMPLES)
@given(steps=st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 2)), min_size=1, max_size=8))
def test_random_sequences_keep_the_registrys_identity_invariants(
    chain: Chain, compliance: Compliance, roles: Roles, steps: list[tuple[str, int]]
) -> None:
    """Key epochs grow by one per publication and a published key never changes; ``identityOf`` is
    the hash and epoch of the last accepted envelope, accepted only for an onboarded account and
    the current epoch; recording changes no status."""
    registry = compliance.contract.functions
    accounts = [m.address for m in roles.members[:3]]
    statuses = {a: Status.ACTIVE for a in accounts}
    keys: list[bytes] = []
    records: dict[str, tuple[bytes, int]] = {}
    snapshot = evm_snapshot(chain)
    try:
        for number, (step, index) in enumerate(steps):
            account = accounts[index]
            if step == "publish":
                chain.transact(registry.publishRegulatorKey(KEYS[index]), roles.regulator)
                keys.append(KEYS[index])
            elif step.startswith("record"):
                epoch = len(keys) - (1 if step == "record stale" else 0)
                envelope = bytes([1]) + max(epoch, 0).to_bytes(4, "big") + bytes([number]) * 60
                expected = _refusal(statuses[account], len(keys), epoch)
                if expected is None:
                    chain.transact(registry.recordIdentity(account, envelope), roles.officer)
                    records[account] = (keccak(envelope), epoch)
                else:
                    with pytest.raises(ContractRevertError) as info:
                        chain.transact(registry.recordIdentity(account, envelope), roles.officer)
                    assert info.value.error == expected
            else:
                after = _status_change(step, statuses[account])
                if after is None:
                    continue
                chain.transact(registry[step](account), roles.officer)
                statuses[account] = after
            assert compliance.regulator_keys() == [RegulatorKey(e + 1, k) for e, k in enumerate(keys)]
            for each in accounts:
                stored = compliance.identity_record(each)
                seen = None if stored is None else (stored.envelope_hash, stored.epoch)
                assert seen == records.get(each)
                assert compliance.status(each) == statuses[each]
    finally:
        evm_revert(chain, snapshot)


def _refusal(status: Status, current: int, epoch: int) -> str | None:
    """The error recordIdentity reverts with, in the order the registry checks (``None``: accepted)."""
    if status is Status.NONE:
        return "ComplianceInvalidStatus"
    if current == 0:
        return "ComplianceNoRegulatorKey"
    return None if epoch == current else "ComplianceIdentityStaleKey"


def _status_change(step: str, status: Status) -> Status | None:
    """The status after ``step`` from ``status``, or ``None`` where it does not apply."""
    changes = {
        ("freeze", Status.ACTIVE): Status.FROZEN,
        ("unfreeze", Status.FROZEN): Status.ACTIVE,
        ("offboard", Status.ACTIVE): Status.NONE,
        ("offboard", Status.FROZEN): Status.NONE,
        ("onboard", Status.NONE): Status.ACTIVE,
    }
    return changes.get((step, status))
