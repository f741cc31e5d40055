"""``dfmi feed``: the price feeder, one reporter key reporting for every market of its file.

    dfmi feed --config feeder.toml --dev-account 16            # on a devnet
    DFMI_PRIVATE_KEY=0x... dfmi feed --config feeder.toml      # the key from the environment
    dfmi feed --config feeder.toml --dev-account 16 --once --dry-run   # log the report it would send

The file (see ``examples/feeder.toml``) holds the service keys and one ``[feeds.<MARKET>]`` table
per market; it is checked at start against the deployment, and an error names the key and exits
78. Each action is one JSON line on standard error.
"""

from __future__ import annotations

from dfmi_py.cli.service import ServiceContext, ServiceExit, service_command
from dfmi_py.errors import ConfigError
from dfmi_py.services.feeder.config import FeederSettings, build_feeds
from dfmi_py.services.feeder.service import FeederService
from dfmi_py.services.logs import service_logger
from dfmi_py.services.runtime import ExitCode


def build_feeder(context: ServiceContext[FeederSettings]) -> FeederService:
    """The feeder service for ``context``'s settings (checked against the deployment), connection and key."""
    config_path = context.config_path
    try:
        feeds = build_feeds(
            context.settings.feeds, context.market, context.account.address, config_path.resolve().parent
        )
    except ConfigError as exc:
        raise ServiceExit(f"{config_path}: {exc}", ExitCode.CONFIG) from None
    return FeederService(feeds, context.sender, context.metrics, service_logger("feeder"))


feed = service_command(
    "feed",
    "feeder",
    FeederSettings,
    build_feeder,
    "Run the price feeder: report each configured market's price on deviation and heartbeat.",
)
