"""Sending many set-up transactions at once: sign them all, send them back to back, then wait.

The set-up of a simulation is hundreds to thousands of independent transactions (mints,
approvals, joins, proposals, confirmations) from many accounts. Waiting for each receipt before
sending the next costs a round trip per transaction; :func:`send_many` instead reserves each
sender's nonces from the chain's counter (:meth:`dfmi_py.chain.Chain.next_nonce`, so the
toolkit's own later transactions follow on), signs every transaction with the current fees and a
fixed gas limit, sends them one after the other, and only then collects the receipts in batches,
as ``bench/keeper_latency.py`` and the services' sender do. Transactions are sent one request at
a time in the order given (a JSON-RPC batch of sends would be faster, but Anvil then takes them
in an order of its own). On the Anvil a simulation starts (:class:`~dfmi_py.simulate.raw.SerialProvider`)
automine is off meanwhile and a block is mined every 15M gas of gas limits, as keeper_latency
does: the blocks hold the transactions in the order sent, and the run repeats block for block.

The transactions of one call must not depend on each other's effects, except a sender's own in
order (its nonces run in the order given). Nothing is checked before sending (no ``eth_call``,
no estimate): a transaction that fails is mined as a failure, and :func:`send_many` raises its
custom error, recovered by replaying it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3.contract import Contract

from dfmi_py.chain.client import Chain
from dfmi_py.errors import TransactionError
from dfmi_py.simulate.raw import Receipt, SerialProvider, call_data, rpc, wait_receipts

#: Gas limits of the set-up operations: the measured cost (the simulation's gas table) with room
#: for cold accounts. Unused gas is not paid for.
GAS = {
    "ether": 21_000,
    "approve": 100_000,
    "mint": 200_000,
    "issue": 200_000,
    "join": 400_000,
    "propose": 400_000,
    "confirm": 800_000,
    "identity": 300_000,
}


@dataclass(frozen=True)
class Tx:
    """One transaction to send.

    Attributes:
        sender: Who signs it.
        to: The contract (or account) it goes to.
        data: Its calldata (empty for a plain ether transfer).
        gas: Its gas limit.
        note: What it does, in words (for the record and for errors).
        value: Wei sent with it.
    """

    sender: LocalAccount
    to: str
    data: bytes
    gas: int
    note: str
    value: int = 0

    @classmethod
    def call(
        cls, sender: LocalAccount, contract: Contract, function: str, args: Sequence[Any], gas: int, note: str
    ) -> Tx:
        """``contract.function(*args)`` sent by ``sender`` (calldata by :func:`call_data`)."""
        return cls(sender, str(contract.address), call_data(contract, function, *args), gas, note)


def send_many(chain: Chain, txs: Sequence[Tx], *, sent: Callable[[str, str], None] | None = None) -> list[Receipt]:
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
    hashes: list[str] = []
    provider = chain.w3.provider
    gathering = provider.blocks() if isinstance(provider, SerialProvider) else contextlib.nullcontext(None)
    try:
        with gathering as before_send:
            for tx in txs:
                if before_send is not None:
                    before_send(tx.gas)
                hashes.append(_send(chain, tx, next_nonce, fees, chain_id))
                next_nonce[tx.sender.address] += 1
                if sent is not None:
                    sent(hashes[-1], tx.note)
        receipts = wait_receipts(chain.w3, hashes)
    finally:
        for owner, count in counts.items():
            # Nonces never sent go back (the next reservation starts at the first of them).
            chain.release_nonces(owner, count, unused_from=next_nonce[owner])
    for tx, receipt in zip(txs, receipts, strict=True):
        if receipt.status != 1:
            raise chain.revert_error(chain.w3.eth.get_transaction_receipt(receipt.tx_hash), tx.note)  # type: ignore[arg-type]
    return receipts


def _send(chain: Chain, tx: Tx, next_nonce: dict[str, int], fees: Any, chain_id: int) -> str:
    """Sign and send ``tx`` with its sender's next nonce; its hash.

    Raises:
        TransactionError: the node refused it.
    """
    params: dict[str, Any] = {
        "to": tx.to,
        "data": tx.data,
        "gas": tx.gas,
        "nonce": next_nonce[tx.sender.address],
        "chainId": chain_id,
        "value": tx.value,
        **fees,
    }
    raw = "0x" + bytes(tx.sender.sign_transaction(params).raw_transaction).hex()
    try:
        return str(rpc(chain.w3, "eth_sendRawTransaction", [raw])).lower()
    except TransactionError as exc:
        raise TransactionError(f"{tx.note}: the node refused the transaction: {exc}") from None
