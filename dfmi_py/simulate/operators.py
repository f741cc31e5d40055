"""The market's operators, run in-process with their own code: a feeder per reporter and a keeper.

Each reporter that feeds some market runs a :class:`~dfmi_py.services.feeder.service.FeederService`
built exactly as ``dfmi feed`` builds it (:class:`~dfmi_py.services.feeder.config.FeederSettings`
validated, :func:`~dfmi_py.services.feeder.config.build_feeds` checking each feed against the
deployment, its own :class:`~dfmi_py.services.sender.TxSender`), with one source per feed: a CSV
replay of the day's path (:class:`~dfmi_py.services.feeds.CsvReplaySource`, the file the run
writes with every round's price at its due time). The keeper is a
:class:`~dfmi_py.services.keeper.service.KeeperService` built as ``dfmi keeper`` builds it with
the default settings (examples/keeper.toml). Nothing goes around them: reports are the feeders'
decisions (deviation, heartbeat, joining a round), settlements, margin calls, defaults and
close-outs the keeper's.

:meth:`Operators.post_round` steps the feeders one after the other, each on the latest block (as
processes polling one node would, each seeing the blocks the others mined), until every market's
open round moved on; the feeders after that would find nothing to do. The first feeder rotates
from round to round, so every reporter takes part over a day. :meth:`Operators.keep` is
one keeper step on the latest block.

Feeder settings: report on any move of at least one basis point (``deviation_bps = 1``) or when
the heartbeat is within five minutes (at most a tenth of it) of lapsing; a quote is fresh for one
round interval; the jump limit is 100% (the oracle's own jump quorum guards the feed, and the
stress shock must pass).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from dfmi_py.api.market import Market
from dfmi_py.chain.accounts import dev_account
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.errors import ConfigError
from dfmi_py.services.config import validate_settings
from dfmi_py.services.feeder.config import FeederSettings, build_feeds
from dfmi_py.services.feeder.service import FeederService
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.keeper.service import KeeperService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import Head
from dfmi_py.services.sender import TxResult, TxSender, TxStatus
from dfmi_py.simulate.raw import call_data, hex_int, rpc_batch

#: The feeders' report threshold and jump limit (see the module's text).
DEVIATION_BPS = 1
JUMP_LIMIT_BPS = 10_000
#: Most seconds before the heartbeat lapses that a feeder reports anyway.
HEARTBEAT_MARGIN = 300


def replay_rows(times: Sequence[int], paths: Mapping[str, Sequence[tuple[int, str]]]) -> list[list[str]]:
    """The replay file's rows: ``timestamp,asset,price`` per market and round (times of ``times``)."""
    rows = []
    for round_number, due in enumerate(times):
        for market, path in paths.items():
            rows.append([str(due), market, path[round_number][1]])
    return rows


def write_replay(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """Write the feeders' replay file (header ``timestamp,asset,price``)."""
    lines = ["timestamp,asset,price", *(",".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def reporter_account(address: str) -> LocalAccount:
    """The development account at ``address`` (the devnet's reporters are development accounts).

    Raises:
        ConfigError: ``address`` is no development account (a deployment whose reporters' keys
            the run does not hold).
    """
    account = _dev_accounts().get(address)
    if account is not None:
        return account
    raise ConfigError(f"reporter {address} is not a development account: the simulation signs with devnet keys")


@functools.cache
def _dev_accounts() -> dict[str, LocalAccount]:
    """Every development account by address (each is derived from the mnemonic: a few ms)."""
    return {account.address: account for account in map(dev_account, range(DEV_ACCOUNT_COUNT))}


@dataclass(frozen=True)
class RoundMade:
    """What the feeders made of one round in one market."""

    market: str
    oracle_round: int | None
    answer: int | None
    updated_at: int | None
    reports: int


class Operators:
    """The feeders and the keeper of a market (see the module's text).

    Args:
        market: The deployed suite.
        feeders: Per market, the reporter addresses that run a feeder for it, in order.
        replay: The day's price file (``timestamp,asset,price``).
        interval: Seconds between rounds (a quote stays fresh this long).
        keeper: The keeper's key.
    """

    def __init__(
        self,
        market: Market,
        feeders: Mapping[str, Sequence[str]],
        replay: Path,
        interval: int,
        keeper: LocalAccount,
    ) -> None:
        self.market = market
        self.chain = market.chain
        reporters: list[str] = []
        for addresses in feeders.values():
            reporters += [a for a in addresses if a not in reporters]
        self.feeders: list[FeederService] = []
        for reporter in reporters:
            markets = [name for name, addresses in feeders.items() if reporter in addresses]
            self.feeders.append(self._feeder(reporter, markets, replay, interval))
        settings = KeeperSettings()
        reader = KeeperReader(
            market, settings.keeper_config(), log_chunk_blocks=settings.log_chunk_blocks, start_block=None
        )
        sender = TxSender(self.chain, keeper, settings.sender.sender_config(settings.confirmations))
        self.keeper = KeeperService(
            market,
            reader,
            sender,
            ServiceMetrics("keeper"),
            service_logger("keeper"),
            max_trade_gas=settings.max_trade_gas,
            confirmations=settings.confirmations,
            skip_retry_blocks=settings.skip_retry_blocks,
        )
        self.keeper.sync()

    def _feeder(self, reporter: str, markets: Sequence[str], replay: Path, interval: int) -> FeederService:
        feeds = {}
        for name in markets:
            heartbeat = self.market.markets[name].oracle.config().heartbeat
            feeds[name] = {
                "deviation_bps": DEVIATION_BPS,
                "heartbeat_margin": min(HEARTBEAT_MARGIN, heartbeat // 10),
                "max_age": interval,
                "max_jump_bps": JUMP_LIMIT_BPS,
                "jump_reference_max_age": interval,
                "sources": [{"kind": "csv", "name": "path", "path": str(replay)}],
            }
        settings = validate_settings({"feeds": feeds}, FeederSettings, "the simulation's feeders")
        built = build_feeds(settings.feeds, self.market, reporter, replay.parent)
        sender = TxSender(self.chain, reporter_account(reporter), settings.sender.sender_config(settings.confirmations))
        service = FeederService(built, sender, ServiceMetrics("feeder"), service_logger("feeder"))
        service.sync()
        return service

    def head(self) -> Head:
        """The latest block as the services see a head."""
        block = self.chain.w3.eth.get_block("latest")
        return Head(int(block["number"]), "0x" + bytes(block["hash"]).hex(), int(block["timestamp"]))

    def post_round(self, first: int = 0) -> tuple[list[RoundMade], list[TxResult]]:
        """Step the feeders until every market's open round moved on (see the module's text),
        starting with feeder ``first`` (modulo their number: the run rotates it, so every
        reporter takes part over a day).

        Returns:
            Per market what was made (in the deployment's order), and every report's result.
        """
        oracles = {name: u.oracle for name, u in self.market.markets.items()}
        before = self.open_rounds()
        results: list[TxResult] = []
        start = first % len(self.feeders)
        for feeder in self.feeders[start:] + self.feeders[:start]:
            feeder.step(self.head())
            results += feeder.last_results
            if all(now > before[name] for name, now in self.open_rounds().items()):
                break
        after = self.open_rounds()
        made = []
        for name, oracle in oracles.items():
            reports = sum(1 for r in results if r.request.market == name and r.status is TxStatus.MINED)
            if after[name] > before[name]:
                final = oracle.round(before[name])
                made.append(RoundMade(name, final.round_id, final.answer, final.updated_at, reports))
            else:
                made.append(RoundMade(name, None, None, None, reports))
        return made, results

    def open_rounds(self) -> dict[str, int]:
        """Every oracle's open round, in one JSON-RPC batch of ``eth_call``."""
        oracles = {name: u.oracle.contract for name, u in self.market.markets.items()}
        calls = [
            ("eth_call", [{"to": contract.address, "data": "0x" + call_data(contract, "openRound").hex()}, "latest"])
            for contract in oracles.values()
        ]
        return {name: hex_int(answer) for name, answer in zip(oracles, rpc_batch(self.chain.w3, calls), strict=True)}

    def keep(self, head: Head | None = None) -> list[TxResult]:
        """One keeper step on ``head`` (default: the latest block); what its transactions did."""
        self.keeper.step(head if head is not None else self.head())
        return list(self.keeper.last_results)
