"""``dfmi keeper``: the margin keeper (settles every due trade of every market, calls margin,
declares defaults, matures trades, retries fund claims). Settings: examples/keeper.toml."""

from __future__ import annotations

from dfmi_py.cli.service import ServiceContext, ServiceExit, service_command
from dfmi_py.errors import ConfigError
from dfmi_py.services.keeper.config import KeeperSettings
from dfmi_py.services.keeper.read import KeeperReader
from dfmi_py.services.keeper.service import KeeperService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.runtime import ExitCode, Service


def build_keeper(context: ServiceContext[KeeperSettings]) -> Service:
    """The keeper service for ``context``'s settings, connection and signer."""
    settings = context.settings
    try:
        reader = KeeperReader(
            context.market,
            settings.keeper_config(),
            settings.markets,
            log_chunk_blocks=settings.log_chunk_blocks,
            start_block=settings.start_block,
        )
    except ConfigError as exc:  # a market the deployment does not have: a configuration error
        raise ServiceExit(str(exc), ExitCode.CONFIG) from None
    return KeeperService(
        context.market,
        reader,
        context.sender,
        context.metrics,
        service_logger("keeper"),
        max_trade_gas=settings.max_trade_gas,
        confirmations=settings.confirmations,
        skip_retry_blocks=settings.skip_retry_blocks,
    )


keeper = service_command(
    "keeper",
    "keeper",
    KeeperSettings,
    build_keeper,
    """Run the margin keeper: settle every due trade of every market after each new final round,
    open margin calls, declare defaults after the cure period, mature trades, retry fund claims.

    One key per process; two keepers at once never pay twice (the engine refuses a second
    settlement of a round, and the keeper counts that refusal as done).
    """,
)
