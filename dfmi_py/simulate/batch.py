"""Sending many set-up transactions at once: sign them all, send them back to back, then wait.

The set-up of a simulation is hundreds to thousands of independent transactions (mints,
approvals, joins, proposals, confirmations) from many accounts. Waiting for each receipt before
sending the next costs a round trip per transaction; :func:`send_many` instead reserves each
sender's nonces from the chain's counter (:meth:`dfmi_py.chain.Chain.next_nonce`, so the
toolkit's own later transactions follow on), signs every transaction with the current fees and a
fixed gas limit, sends them one after the other, and only then collects the receipts, as
``bench/keeper_latency.py`` and the services' sender do. Transactions are sent in the order
given, one at a time, so a node that mines each on arrival (Anvil, Hardhat) mines them in that
order: the run repeats block for block.

The transactions of one call must not depend on each other's effects, except a sender's own in
order (its nonces run in the order given). Nothing is checked before sending (no ``eth_call``,
no estimate): a transaction that fails is mined as a failure, and :func:`send_many` raises its
custom error, recovered by replaying it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3.contract.contract import ContractFunction
from web3.exceptions import Web3RPCError
from web3.types import TxReceipt

from dfmi_py.chain.client import Chain
from dfmi_py.errors import TransactionError

#: Gas limits of the set-up operations: the measured cost (bench/results/gas.md and the
#: simulation's own gas table) with room for cold accounts. Unused gas is not paid for.
GAS = {
    "ether": 21_000,
    "approve": 100_000,
    "mint": 200_000,
    "issue": 200_000,
    "join": 400_000,
    "propose": 400_000,
    "confirm": 800_000,
}


@dataclass(frozen=True)
class Tx:
    """One transaction to send.

    Attributes:
        sender: Who signs it.
        call: The contract call, or ``None`` for a plain ether transfer to ``to``.
        gas: Its gas limit.
        note: What it does, in words (for the record and for errors).
        to: The ether transfer's recipient.
        value: Wei sent with it.
    """

    sender: LocalAccount
    call: ContractFunction | None
    gas: int
    note: str
    to: str | None = None
    value: int = 0


def send_many(chain: Chain, txs: Sequence[Tx], *, sent: Callable[[str, str], None] | None = None) -> list[TxReceipt]:
    """Send ``txs`` (see the module's text) and wait for every receipt; the receipts, in order.

    Args:
        chain: The connection.
        txs: The transactions, sent in this order.
        sent: Called with each transaction's hash and note once it is sent.

    Raises:
        TransactionError: the node refused one (nothing after it is sent), or one was mined as a
            failure (its custom error, when there is one, as :class:`ContractRevertError`).
    """
    if not txs:
        return []
    counts: dict[str, int] = {}
    for tx in txs:
        counts[tx.sender.address] = counts.get(tx.sender.address, 0) + 1
    fees = chain.fees().params()
    chain_id = chain.chain_id
    next_nonce = {address: chain.next_nonce(address, count) for address, count in counts.items()}
    hashes: list[HexBytes] = []
    try:
        for tx in txs:
            address = tx.sender.address
            params: dict[str, Any] = {
                "gas": tx.gas,
                "nonce": next_nonce[address],
                "chainId": chain_id,
                "value": tx.value,
                **fees,
            }
            if tx.call is not None:
                params.update(to=tx.call.address, data=tx.call._encode_transaction_data())
            else:
                params.update(to=tx.to, data=b"")
            signed = tx.sender.sign_transaction(params)
            try:
                tx_hash = chain.w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3RPCError, ValueError) as exc:
                raise TransactionError(f"{tx.note}: the node refused the transaction: {exc}") from None
            next_nonce[address] += 1
            hashes.append(HexBytes(tx_hash))
            if sent is not None:
                sent(HexBytes(tx_hash).to_0x_hex(), tx.note)
        receipts = [chain.wait_receipt(tx_hash) for tx_hash in hashes]
    finally:
        for owner, count in counts.items():
            # Nonces never sent go back (the next reservation starts at the first of them).
            chain.release_nonces(owner, count, unused_from=next_nonce[owner])
    for tx, receipt in zip(txs, receipts, strict=True):
        if receipt["status"] != 1:
            raise chain.revert_error(receipt, tx.note)
    return receipts
