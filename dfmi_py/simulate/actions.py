"""Every transaction of a run, read back from the chain and labelled: the record's action table.

:class:`ActionBook` reads the blocks a phase (or a round) mined, with their receipts, and makes
one :class:`~dfmi_py.simulate.record.ActionRecord` per transaction: who sent it (a member's name,
a role), what it called (``Contract.function`` from the deployment's ABIs, ``deploy Contract``
for a creation, ``ether transfer``), its gas and status, and what the run says it did. Reading
the chain rather than collecting receipts where they are sent means nothing is missed: the
deployment's own transactions, the approvals an API call sends before its main one, the feeders'
and the keeper's batches all land in the table, in chain order.

Blocks and receipts are read in JSON-RPC batches (:func:`dfmi_py.simulate.raw.rpc_batch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from eth_typing import ABIFunction
from eth_utils.abi import function_abi_to_4byte_selector

from dfmi_py.chain.client import Chain, checksum
from dfmi_py.deploy.suite import Deployment
from dfmi_py.simulate.raw import BATCH, Receipt, hex_bytes, hex_int, rpc, rpc_batch
from dfmi_py.simulate.record import ActionRecord, PhaseRecord


@dataclass(frozen=True)
class _Callee:
    """A contract of the deployment: its kind (artifact), market and function selectors."""

    kind: str
    market: str
    functions: Mapping[bytes, str]


class ActionBook:
    """The run's transactions, read block by block (see the module's text).

    Args:
        chain: The connection.
        deployment: The suite (its manifest names the contracts; its ABIs name the functions).
        actors: Address -> who it is, for the ``actor`` column.
        start_block: The first block to read.
    """

    def __init__(self, chain: Chain, deployment: Deployment, actors: Mapping[str, str], start_block: int) -> None:
        self.chain = chain
        self.actors = {address.lower(): name for address, name in actors.items()}
        self.next_block = start_block
        self.actions: list[ActionRecord] = []
        self.phases: list[PhaseRecord] = []
        self._notes: dict[str, str] = {}
        self._callees: dict[str, _Callee] = {}
        self._created: dict[str, str] = {}
        for key, record in deployment.manifest.contracts.items():
            kind, _, market = key.partition("@")
            abi = chain.artifacts[record.artifact].abi
            functions = {
                bytes(function_abi_to_4byte_selector(cast(ABIFunction, item))): str(item["name"])
                for item in abi
                if item.get("type") == "function"
            }
            self._callees[record.address.lower()] = _Callee(kind, market, functions)
            self._created[record.address.lower()] = key

    def add_actor(self, address: str, name: str) -> None:
        """Name ``address`` in the ``actor`` column from now on."""
        self.actors[address.lower()] = name

    def note(self, tx_hash: str, detail: str) -> None:
        """Say what transaction ``tx_hash`` did (its ``detail``); a later note adds to it."""
        key = tx_hash.lower()
        self._notes[key] = f"{self._notes[key]}; {detail}" if key in self._notes else detail

    def read(self, phase: str, round_number: int | None = None, to_block: int | None = None) -> list[ActionRecord]:
        """Read every block from the last one read up to ``to_block`` (the latest by default) as
        ``phase`` (and ``round_number``); the actions added."""
        w3 = self.chain.w3
        last = hex_int(rpc(w3, "eth_blockNumber", [])) if to_block is None else to_block
        added: list[ActionRecord] = []
        seq = self.actions[-1].seq if self.actions else 0
        for start in range(self.next_block, last + 1, BATCH):
            numbers = range(start, min(start + BATCH, last + 1))
            blocks = rpc_batch(w3, [("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            txs = [tx for block in blocks for tx in block["transactions"]]
            raw = rpc_batch(w3, [("eth_getTransactionReceipt", [tx["hash"]]) for tx in txs])
            for tx, receipt in zip(txs, raw, strict=True):
                seq += 1
                added.append(self._action(seq, tx, Receipt.parse(receipt), phase, round_number))
        self.actions += added
        self.next_block = max(self.next_block, last + 1)
        return added

    def close_phase(self, name: str, first_block: int) -> PhaseRecord:
        """Record phase ``name`` as the blocks from ``first_block`` to the last one read."""
        last = self.next_block - 1
        mine = [a for a in self.actions if first_block <= a.block <= last]
        phase = PhaseRecord(name, first_block, last, len(mine), sum(a.gas_used for a in mine))
        self.phases.append(phase)
        return phase

    # ------------------------------------------------------------------ internals

    def _action(self, seq: int, tx: Any, receipt: Receipt, phase: str, round_number: int | None) -> ActionRecord:
        tx_hash = str(tx["hash"]).lower()
        sender = checksum(tx["from"])
        operation, market = self._operation(tx, receipt)
        return ActionRecord(
            seq=seq,
            phase=phase,
            round=round_number,
            block=receipt.block,
            tx_hash=tx_hash,
            sender=sender,
            actor=self.actors.get(sender.lower(), "other"),
            operation=operation,
            market=market,
            gas_used=receipt.gas_used,
            status=receipt.status,
            detail=self._notes.pop(tx_hash, ""),
        )

    def _operation(self, tx: Any, receipt: Receipt) -> tuple[str, str]:
        to = tx.get("to")
        if to is None:
            key = self._created.get(str(receipt.contract_address or "").lower(), "contract")
            kind, _, market = key.partition("@")
            return f"deploy {kind}", market
        callee = self._callees.get(str(to).lower())
        data = hex_bytes(tx.get("input"))
        if callee is None:
            return ("ether transfer" if not data else "call to another contract"), ""
        name = callee.functions.get(data[:4], "unknown function")
        return f"{callee.kind}.{name}", callee.market
