"""The compliance registry: onboarding, freezing and reading account statuses; the regulator's
disclosure key and the accounts' encrypted identity records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract import Contract
from web3.types import TxReceipt

from dfmi_py.api.base import ContractAPI
from dfmi_py.chain.client import Chain, checksum
from dfmi_py.chain.events import DEFAULT_CHUNK_BLOCKS, EventLog, event_specs, fetch_logs
from dfmi_py.errors import DisclosureError, InputError
from dfmi_py.identity.crypto import Context, compressed_key
from dfmi_py.identity.disclosure import (
    IDENTITY_EVENT,
    Disclosure,
    Identity,
    disclosure_from,
    latest_envelopes,
    open_identity,
    seal_identity,
)
from dfmi_py.identity.keys import check_account_key

if TYPE_CHECKING:  # the books import this module: their ledger is imported when events are read
    from dfmi_py.books.ledger import LedgerEvent

#: The manifest key of the registry (the :class:`LedgerEvent`'s ``contract``).
REGISTRY_KEY = "ComplianceRegistry"
#: The registry's identity events.
IDENTITY_EVENTS = ("RegulatorKeyPublished", IDENTITY_EVENT)


class AccountStatus(IntEnum):
    """Mirror of the Solidity ``AccountStatus`` enum."""

    NONE = 0
    ACTIVE = 1
    FROZEN = 2


@dataclass(frozen=True)
class RegulatorKey:
    """A regulator disclosure key as published.

    Attributes:
        epoch: Its epoch (the first key is 1; each publication adds one).
        public_key: The compressed secp256k1 public key (33 bytes).
    """

    epoch: int
    public_key: bytes


@dataclass(frozen=True)
class IdentityRecord:
    """What the registry stores of an account's current identity record (the envelope is in its event).

    Attributes:
        envelope_hash: The keccak-256 of the envelope.
        epoch: The regulator key epoch it is encrypted to.
    """

    envelope_hash: bytes
    epoch: int


class Compliance(ContractAPI):
    """The shared allowlist, and the identities recorded in it.

    Args:
        chain: The chain.
        contract: The ``ComplianceRegistry`` contract.
        deployed_at: The block the registry was deployed in: event reads start there.
    """

    def __init__(self, chain: Chain, contract: Contract, deployed_at: int = 0) -> None:
        super().__init__(chain, contract)
        self.deployed_at = deployed_at

    def status(self, account: str) -> AccountStatus:
        """The status of ``account``."""
        return AccountStatus(self.contract.functions.statusOf(checksum(account)).call())

    def is_active(self, account: str) -> bool:
        """True when ``account`` is onboarded and not frozen."""
        return self.status(account) is AccountStatus.ACTIVE

    def has_role(self, role: str, account: str) -> bool:
        """True when ``account`` holds ``role`` (e.g. ``"COMPLIANCE_ROLE"``, ``"REGULATOR_ROLE"``)."""
        abi: list[dict[str, Any]] = [dict(item) for item in self.contract.abi]
        roles = sorted(
            str(item["name"])
            for item in abi
            if item.get("type") == "function" and str(item.get("name", "")).endswith("_ROLE") and not item["inputs"]
        )
        if role not in roles:
            raise InputError(f"no role {role!r} in the compliance registry: it has {', '.join(roles)}")
        role_id = self.contract.functions[role]().call()
        return bool(self.contract.functions.hasRole(role_id, checksum(account)).call())

    def onboard(self, officer: LocalAccount, accounts: str | Iterable[str]) -> TxReceipt:
        """Onboard one account, or several in one transaction."""
        if isinstance(accounts, str):
            return self.chain.transact(self.contract.functions.onboard(checksum(accounts)), officer, "onboard")
        batch = [checksum(a) for a in accounts]
        return self.chain.transact(self.contract.functions.onboardBatch(batch), officer, "onboard")

    def freeze(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Freeze ``account``."""
        return self.chain.transact(self.contract.functions.freeze(checksum(account)), officer, "freeze")

    def unfreeze(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Unfreeze ``account``."""
        return self.chain.transact(self.contract.functions.unfreeze(checksum(account)), officer, "unfreeze")

    def offboard(self, officer: LocalAccount, account: str) -> TxReceipt:
        """Offboard ``account``."""
        return self.chain.transact(self.contract.functions.offboard(checksum(account)), officer, "offboard")

    # ------------------------------------------------------------------ identities

    def regulator_key(self) -> RegulatorKey | None:
        """The regulator's current disclosure key, or ``None`` before the first is published."""
        epoch, public_key = self.contract.functions.regulatorKey().call()
        return RegulatorKey(int(epoch), bytes(public_key)) if epoch else None

    def regulator_keys(self) -> list[RegulatorKey]:
        """Every disclosure key the regulator published, oldest first."""
        current = self.regulator_key()
        if current is None:
            return []
        at = self.contract.functions.regulatorKeyAt
        earlier = [RegulatorKey(epoch, bytes(at(epoch).call())) for epoch in range(1, current.epoch)]
        return [*earlier, current]

    def publish_regulator_key(self, regulator: LocalAccount, public_key: bytes) -> TxReceipt:
        """Publish ``public_key`` as the regulator's disclosure key of the next epoch (regulator only).

        Raises:
            InputError: not a secp256k1 public key (checked on the curve before anything is sent).
        """
        key = compressed_key(public_key)
        return self.chain.transact(self.contract.functions.publishRegulatorKey(key), regulator, "publish regulator key")

    def context(self, account: str) -> Context:
        """The context identity envelopes of ``account`` are bound to on this chain and registry."""
        return Context(self.chain.chain_id, self.address, checksum(account))

    def seal_identity(
        self,
        account: str,
        identity: Identity,
        account_public_key: bytes,
        *,
        entropy: Callable[[int], bytes] | None = None,
    ) -> bytes:
        """``account``'s identity envelope, encrypted to the regulator's current key and to the account's.

        ``entropy``: a seeded source of the envelope's keys, for reproducible runs with public keys
        only (see :func:`dfmi_py.identity.crypto.seal`); ``None``: the operating system's.

        Raises:
            InputError: ``account_public_key`` is not ``account``'s key.
            DisclosureError: the regulator has published no disclosure key yet.
        """
        account = checksum(account)
        account_key = check_account_key(account, account_public_key)
        regulator = self.regulator_key()
        if regulator is None:
            raise DisclosureError(
                "the regulator has published no disclosure key yet: it publishes one first "
                "(`dfmi compliance regulator-key publish`)"
            )
        return seal_identity(
            identity, self.context(account), regulator.epoch, regulator.public_key, account_key, entropy=entropy
        )

    def record_identity(
        self, officer: LocalAccount, account: str, identity: Identity, account_public_key: bytes
    ) -> TxReceipt:
        """Record ``account``'s identity, encrypted to the regulator's current key and to the
        account's own key (compliance officer only; the account must be onboarded).

        Args:
            officer: The compliance officer.
            account: The onboarded account.
            identity: Its identity record.
            account_public_key: The account's public key (see :mod:`dfmi_py.identity.keys`): checked
                against its address.

        Raises:
            InputError: the public key is not the account's.
            DisclosureError: no regulator key published yet.
            ContractRevertError: the registry refuses (the account not onboarded, the envelope too
                large, the key rotated meanwhile).
        """
        envelope = self.seal_identity(account, identity, account_public_key)
        call = self.contract.functions.recordIdentity(checksum(account), envelope)
        return self.chain.transact(call, officer, "record identity")

    def identity_record(self, account: str) -> IdentityRecord | None:
        """What the registry stores of ``account``'s current identity record, or ``None``."""
        envelope_hash, epoch = self.contract.functions.identityOf(checksum(account)).call()
        return IdentityRecord(bytes(envelope_hash), int(epoch)) if epoch else None

    def identity_events(
        self, from_block: int | None = None, to_block: int | None = None, chunk_blocks: int = DEFAULT_CHUNK_BLOCKS
    ) -> list[LedgerEvent]:
        """The registry's ``RegulatorKeyPublished`` and ``IdentityRecorded`` events, in chain order.

        Read with ``eth_getLogs`` in chunks of ``chunk_blocks`` blocks from ``from_block`` (the
        registry's deployment block by default) to ``to_block`` (the latest block by default).
        """
        from dfmi_py.books.ledger import LedgerEvent  # here, not at the top: see the imports

        start = self.deployed_at if from_block is None else from_block
        end = int(self.chain.w3.eth.block_number) if to_block is None else to_block
        specs = event_specs(self.contract, IDENTITY_EVENTS)
        topics = ["0x" + topic.hex() for topic in specs]
        raw = [
            log
            for chunk in fetch_logs(self.chain.w3, [self.address], topics, start, end, chunk_blocks)
            for log in chunk
        ]
        times = self.chain.block_times(int(log["blockNumber"]) for log in raw)
        events = []
        for log in raw:
            decoded = EventLog(specs[bytes(log["topics"][0])], log)
            events.append(
                LedgerEvent(
                    REGISTRY_KEY,
                    self.address,
                    decoded.name,
                    int(log["blockNumber"]),
                    HexBytes(log["blockHash"]).to_0x_hex(),
                    int(log["logIndex"]),
                    HexBytes(log["transactionHash"]).to_0x_hex(),
                    times[int(log["blockNumber"])],
                    decoded,
                )
            )
        return events

    def disclosure(self, viewer_key: bytes | None, events: Iterable[LedgerEvent] | None = None) -> Disclosure:
        """The identities ``viewer_key`` opens (see :func:`dfmi_py.identity.disclosure.disclosure_from`),
        from ``events`` or, when ``None``, from the registry's events read now."""
        read = self.identity_events() if events is None else events
        return disclosure_from(read, viewer_key, self.chain.chain_id, self.address)

    def recorded_accounts(self, events: Iterable[LedgerEvent] | None = None) -> list[str]:
        """Every account with an identity record, in the order first recorded."""
        read = self.identity_events() if events is None else events
        return list(latest_envelopes(read, self.address))

    def identity_of(self, account: str, viewer_key: bytes) -> Identity:
        """``account``'s current identity, opened with ``viewer_key``.

        Raises:
            InputError: no identity recorded for ``account``, or ``viewer_key`` is not a private key.
            DisclosureError: the key does not open it.
        """
        account = checksum(account)
        record = self.identity_record(account)
        if record is None:
            raise InputError(f"no identity is recorded for {account}")
        envelopes = latest_envelopes(self.identity_events(), self.address)
        envelope = envelopes.get(account)
        if envelope is None or HexBytes(self.chain.w3.keccak(envelope)) != HexBytes(record.envelope_hash):
            raise DisclosureError(f"the identity event of {account} does not match the registry's record")
        return open_identity(envelope, viewer_key, self.context(account))[0]
