"""``dfmi feed``: the price feeder, one reporter key reporting for every market of its file.

    dfmi feed --config feeder.toml --dev-account 16            # on a devnet
    DFMI_PRIVATE_KEY=0x... dfmi feed --config feeder.toml      # the key from the environment
    dfmi feed --config feeder.toml --dev-account 16 --once --dry-run   # log the report it would send

The file (see ``examples/feeder.toml``) holds the service keys and one ``[feeds.<MARKET>]`` table
per market; it is checked at start against the deployment, and an error names the key and exits
78. Each action is one JSON line on standard error.
"""

from __future__ import annotations

from pathlib import Path

import click

from dfmi_py.cli.common import Options, pass_options
from dfmi_py.cli.service import ServiceContext, ServiceExit, run_service, service_options
from dfmi_py.errors import ConfigError
from dfmi_py.services.feeder.config import FeederSettings, build_feeds
from dfmi_py.services.feeder.service import FeederService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.runtime import ExitCode


@click.command("feed")
@service_options
@pass_options
def feed(
    options: Options,
    config_path: Path,
    key_env: str | None,
    dev_account: int | None,
    dry_run: bool,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Run the price feeder: report each configured market's price on deviation and heartbeat."""

    def build(context: ServiceContext[FeederSettings]) -> FeederService:
        try:
            feeds = build_feeds(
                context.settings.feeds, context.market, context.account.address, config_path.resolve().parent
            )
        except ConfigError as exc:
            raise ServiceExit(f"{config_path}: {exc}", ExitCode.CONFIG) from None
        return FeederService(feeds, context.sender, context.metrics, service_logger("feeder"))

    run_service(
        options,
        "feeder",
        FeederSettings,
        build,
        config_path=config_path,
        key_env=key_env,
        dev_account=dev_account,
        dry_run=dry_run,
        once=once,
        metrics_port=metrics_port,
    )
