"""Every event of a deployed suite, read from the chain in chunks and cached by block number and hash.

(Interface stub: the implementation lands with the books.)
"""

from __future__ import annotations

from dataclasses import dataclass

from dfmi_py.chain.events import EventLog


@dataclass(frozen=True)
class LedgerEvent:
    """One event of one of the suite's contracts.

    Attributes:
        contract: The contract's manifest key (``"ComplianceRegistry"``, ``"DerivativeEngine@EURUSD"``).
        address: The contract's address (checksummed).
        name: The event's name (``"VariationMarginSettled"``).
        block: The block it was emitted in.
        block_hash: That block's hash (``0x`` hex).
        log_index: Its position in the block.
        tx_hash: The transaction that emitted it (``0x`` hex).
        timestamp: The block's time (Unix seconds).
        log: The decoded log: ``log.int("field")`` reads an integer field, ``log.args`` every field.
    """

    contract: str
    address: str
    name: str
    block: int
    block_hash: str
    log_index: int
    tx_hash: str
    timestamp: int
    log: EventLog
