"""What the feeder reads from one oracle, all at one block.

:func:`read_oracle` makes five ``eth_call`` s, every one with ``block_identifier`` set to the same
block number: the open round, whether this reporter reported in it, its submission count, the
latest final round and the settings (bounds and heartbeat). Reading at one block keeps them
consistent (the open round is always the latest final round plus one), whatever the chain does
between the calls; the ``latest`` and ``pending`` tags are never used. Only standard JSON-RPC.

Trust: the node is trusted to answer ``eth_call`` truthfully (as every reader of the chain must);
a node that cannot be reached surfaces as :class:`~dfmi_py.errors.ChainConnectionError`, which the
runner treats as a fault (back off, re-sync, decide again).
"""

from __future__ import annotations

from dataclasses import dataclass

from dfmi_py.api.oracle import Oracle, OracleConfig
from dfmi_py.services.feeder.decide import FinalAnswer
from dfmi_py.services.runtime import reading


@dataclass(frozen=True)
class OracleSnapshot:
    """One oracle as of one block.

    Attributes:
        block: The block read.
        open_round: ``openRound()``.
        reported_in_open: Whether the reporter has reported in the open round.
        submissions: Reports in the open round so far (every reporter's).
        latest: The latest final round; ``None`` before the first.
        min_answer: The oracle's lowest accepted answer.
        max_answer: Its highest.
        heartbeat: Seconds after which its latest answer counts as stale.
    """

    block: int
    open_round: int
    reported_in_open: bool
    submissions: int
    latest: FinalAnswer | None
    min_answer: int
    max_answer: int
    heartbeat: int


def read_oracle(oracle: Oracle, reporter: str, block: int) -> OracleSnapshot:
    """Read what :class:`~dfmi_py.services.feeder.decide.FeederState` needs at ``block``.

    Args:
        oracle: The feed.
        reporter: The feeder's address.
        block: The block number every call reads at.

    Raises:
        ChainConnectionError: the node could not be reached.
    """
    functions = oracle.contract.functions

    def read() -> tuple[int, bool, int, FinalAnswer | None, OracleConfig]:
        open_round = int(functions.openRound().call(block_identifier=block))
        reported = bool(functions.hasReported(open_round, reporter).call(block_identifier=block))
        submissions = len(functions.submissionsOf(open_round).call(block_identifier=block))
        latest = None
        if open_round > 1:  # latestRoundData reverts with OracleNoData before the first final round
            round_id, answer, _, updated_at, _ = functions.latestRoundData().call(block_identifier=block)
            latest = FinalAnswer(int(round_id), int(answer), int(updated_at))
        config = OracleConfig.from_call(functions.config().call(block_identifier=block))
        return open_round, reported, submissions, latest, config

    open_round, reported, submissions, latest, config = reading(
        read, f"reading the oracle {oracle.address} at block {block}"
    )
    return OracleSnapshot(
        block=block,
        open_round=open_round,
        reported_in_open=reported,
        submissions=submissions,
        latest=latest,
        min_answer=config.min_answer,
        max_answer=config.max_answer,
        heartbeat=config.heartbeat,
    )
