"""The price feeder service: one reporter key, every configured market, one decision per block.

On each new head :meth:`FeederService.step`, for every feed:

1. reads the oracle at the head's block (:func:`~dfmi_py.services.feeder.read.read_oracle`);
2. asks the sources in fallback order, stopping at the first quote the policy accepts (a source
   behind it is not asked: an HTTP fallback costs nothing while the first source is good);
3. decides (:func:`~dfmi_py.services.feeder.decide.decide`, pure);

then sends every market's report in one :meth:`~dfmi_py.services.sender.TxSender.send_all`, and
logs one JSON line per decision that acts or refuses a source (market, round, answer, reason,
the refusals with their reasons, transaction, gas) and counts it in the metrics.

A report refused with ``OracleAlreadyReported`` or ``OracleWrongRound`` is done, not failed:
another feeder's report finalised the round first (or this one's own, read from an older block),
and the next block's decision starts from the new open round. So the feeder never reports twice
in a round, whatever the order of blocks and reports.

State: nothing but the previous accepted quote of each feed, which bounds the next quote's jump.
It is kept in memory only: after a restart the jump reference starts empty, so the first quote
after a restart is bounded by the policy's other checks and by the oracle's own anchor and jump
quorum, not by the feeder's jump limit. Everything else is read from the chain at every block.

Trust: sources are inputs to check (see :mod:`dfmi_py.services.feeds`); the other reporters may
be silent or dishonest (the oracle's quorum and median bound them); the node is trusted for reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dfmi_py.errors import ConfigError
from dfmi_py.services.feeder.config import Feed
from dfmi_py.services.feeder.decide import FeedDecision, FeederState, FeedReason, decide
from dfmi_py.services.feeder.read import OracleSnapshot, read_oracle
from dfmi_py.services.feeds import PriceSource
from dfmi_py.services.logs import log_event
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import Head
from dfmi_py.services.sender import TxRequest, TxResult, TxSender, TxStatus
from dfmi_py.services.sources import AcceptedQuote, Quote, SourcePolicy, validate_quote

#: Refusals of a report that mean the round needs nothing more from this feeder.
DONE_ERRORS = frozenset({"OracleAlreadyReported", "OracleWrongRound"})
#: Gas limit floor of a report. Feeders estimate on the same block, where a report only opens or
#: joins the round (43,514 / 41,702 gas); the one mined last finalises it (80,107 at a quorum of
#: 3, the median of more reports for a jump) and would run out of gas on the estimate: it then
#: lands a block late. Unused gas is not paid for.
REPORT_GAS_FLOOR = 250_000
#: Decisions worth a log line even when nothing is sent and no source was refused.
_NOTABLE = frozenset({FeedReason.NO_VALID_QUOTE, FeedReason.OUT_OF_BOUNDS})


@dataclass
class FeedStatus:
    """What the status line says of one feed."""

    round: int | None = None
    last_report_round: int | None = None
    last_answer: int | None = None
    last_reason: str | None = None
    last_tx: str | None = None


def safe_quote(source: PriceSource, asset: str, now: int) -> Quote:
    """``source.quote(asset, now)``; an exception from the source becomes a refused quote.

    A source is plug-in code reading outside data: a bug in one must not stop the others.
    """
    try:
        return source.quote(asset, now)
    except Exception as exc:  # noqa: BLE001 (any failure of a source is that source's refusal)
        return Quote(source.name, None, None, error=f"the source failed: {type(exc).__name__}: {exc}")


def gather_quotes(
    sources: Sequence[PriceSource], asset: str, now: int, previous: AcceptedQuote | None, policy: SourcePolicy
) -> tuple[Quote, ...]:
    """The sources' quotes in fallback order, up to and including the first one accepted."""
    quotes: list[Quote] = []
    for source in sources:
        quote = safe_quote(source, asset, now)
        quotes.append(quote)
        if isinstance(validate_quote(quote, now, previous, policy), AcceptedQuote):
            break
    return tuple(quotes)


class FeederService:
    """The feeder, driven by :class:`~dfmi_py.services.runtime.ServiceRunner`.

    Args:
        feeds: The markets it reports for (:func:`~dfmi_py.services.feeder.config.build_feeds`).
        sender: Sends the reports (its account is the reporter).
        metrics: The process's metrics.
        logger: The service's logger (one JSON line per action).
    """

    name = "feeder"

    def __init__(
        self, feeds: Sequence[Feed], sender: TxSender, metrics: ServiceMetrics, logger: logging.Logger
    ) -> None:
        self.feeds = list(feeds)
        self.sender = sender
        self.metrics = metrics
        self.logger = logger
        self.reporter = sender.address
        self.previous: dict[str, AcceptedQuote | None] = {feed.market: None for feed in self.feeds}
        self.feed_status: dict[str, FeedStatus] = {feed.market: FeedStatus() for feed in self.feeds}
        self.last_block: int | None = None
        #: What became of the reports the last :meth:`step` sent, in the order of its feeds.
        self.last_results: list[TxResult] = []

    def sync(self) -> None:
        """Start over from the chain: the sender re-reads its nonce; the oracles are read every block."""
        self.sender.resync()

    def step(self, head: Head) -> None:
        """Read, decide and report for every feed at ``head`` (see the module's text)."""
        decided: list[tuple[Feed, OracleSnapshot, FeedDecision]] = []
        for feed in self.feeds:
            snapshot = read_oracle(feed.oracle, self.reporter, head.number)
            self.feed_status[feed.market].round = snapshot.open_round
            try:
                config = feed.feeder_config(snapshot.heartbeat)
            except ConfigError as exc:  # the reporters changed the heartbeat below the margin
                log_event(self.logger, "config_invalid", logging.ERROR, market=feed.market, error=str(exc))
                self.metrics.failures.labels(self.name, feed.market, "report", "config").inc()
                continue
            previous = self.previous[feed.market]
            quotes = gather_quotes(feed.sources, feed.asset, head.timestamp, previous, config.policy)
            state = FeederState(
                reporter=self.reporter,
                now=head.timestamp,
                open_round=snapshot.open_round,
                reported_in_open=snapshot.reported_in_open,
                submissions=snapshot.submissions,
                latest=snapshot.latest,
                quotes=quotes,
                previous_quote=previous,
                min_answer=snapshot.min_answer,
                max_answer=snapshot.max_answer,
                config=config,
            )
            decision = decide(state)
            self.previous[feed.market] = decision.previous_quote
            decided.append((feed, snapshot, decision))
        requests = [
            TxRequest(
                call=feed.oracle.contract.functions.submit(decision.report.round_id, decision.report.answer),
                action="report",
                market=feed.market,
                fields={"round": decision.report.round_id, "answer": decision.report.answer},
                done_errors=DONE_ERRORS,
                min_gas=REPORT_GAS_FLOOR,
            )
            for feed, _, decision in decided
            if decision.report is not None
        ]
        self.last_results = self.sender.send_all(requests) if requests else []
        results = iter(self.last_results)
        for feed, snapshot, decision in decided:
            result = next(results) if decision.report is not None else None
            self._record(feed.market, snapshot, decision, result)
        self.last_block = head.number

    def _record(self, market: str, snapshot: OracleSnapshot, decision: FeedDecision, result: TxResult | None) -> None:
        """One log line and the metrics of one decision."""
        refusals = decision.selection.refusals
        for refusal in refusals:
            self.metrics.failures.labels(self.name, market, "quote", refusal.problem.name.lower()).inc()
        if result is None and not refusals and decision.reason not in _NOTABLE:
            return
        accepted = decision.selection.accepted
        fields: dict[str, Any] = {
            "market": market,
            "round": snapshot.open_round,
            "reason": decision.reason.name.lower(),
            "why": decision.reason.value,
            "answer": accepted.answer if accepted is not None else None,
            "price": accepted.price if accepted is not None else None,
            "source": accepted.source if accepted is not None else None,
            "refusals": [{"source": r.source, "problem": r.problem.value, "detail": r.detail} for r in refusals],
            "block": snapshot.block,
        }
        if result is None:
            log_event(self.logger, "no_report", logging.WARNING, **fields)
            return
        status = result.status
        fields.update(status=status.value, tx=result.tx_hash, gas=result.gas_used)
        if result.error is not None:
            fields.update(error=result.error, detail=result.detail)
        self.metrics.actions.labels(self.name, market, "report", status.value).inc()
        level = logging.INFO
        if result.tx_hash is not None:  # mined, or mined as a failure (gas spent all the same)
            self.metrics.gas_spent.labels(self.name, market, "report").inc(result.gas_used)
        if status is TxStatus.MINED:
            self.metrics.reports.labels(market, decision.reason.name.lower()).inc()
            feed_status = self.feed_status[market]
            feed_status.last_report_round = snapshot.open_round
            feed_status.last_answer = accepted.answer if accepted is not None else None
            feed_status.last_reason = decision.reason.name.lower()
            feed_status.last_tx = result.tx_hash
        elif status in (TxStatus.REVERTED, TxStatus.FAILED):
            self.metrics.failures.labels(self.name, market, "report", result.error or status.value).inc()
            level = logging.ERROR
        log_event(self.logger, "report", level, **fields)

    def status(self) -> Mapping[str, Any]:
        """The status line's fields: the last block and, per market, the open round and last report."""
        return {
            "reporter": self.reporter,
            "block": self.last_block,
            "markets": {market: vars(status).copy() for market, status in self.feed_status.items()},
        }

    def close(self) -> None:
        """Release the sources' connections."""
        for feed in self.feeds:
            for source in feed.sources:
                close = getattr(source, "close", None)
                if callable(close):
                    close()
