"""``dfmi keeper``: the margin keeper (settles every due trade of every market, calls margin,
declares defaults, matures trades, retries fund claims). Settings: examples/keeper.toml."""

from __future__ import annotations

from pathlib import Path

import click

from dfmi_py.cli.common import Options
from dfmi_py.cli.service import ServiceContext, ServiceExit, run_service, service_options
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


@click.command()
@service_options
@click.pass_obj
def keeper(
    options: Options,
    config_path: Path,
    key_env: str | None,
    dev_account: int | None,
    dry_run: bool,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Run the margin keeper: settle every due trade of every market after each new final round,
    open margin calls, declare defaults after the cure period, mature trades, retry fund claims.

    One key per process; two keepers at once never pay twice (the engine refuses a second
    settlement of a round, and the keeper counts that refusal as done).
    """
    run_service(
        options,
        "keeper",
        KeeperSettings,
        build_keeper,
        config_path=config_path,
        key_env=key_env,
        dev_account=dev_account,
        dry_run=dry_run,
        once=once,
        metrics_port=metrics_port,
    )
