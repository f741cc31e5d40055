"""What ``dfmi feed`` and ``dfmi keeper`` share: options, start-up, signals, exit codes.

A service command takes ``--config FILE`` (its TOML settings), the signer (``--key-env`` or, on a
devnet, ``--dev-account``), ``--dry-run``, ``--once`` and ``--metrics-port``; ``--rpc-url`` and
``--deployments-dir`` are the CLI's global options and win over the file. :func:`run_service`
loads and validates the settings, connects, builds the service, serves the metrics, runs the loop
with SIGTERM and SIGINT asking it to stop after the step in flight (a second signal abandons that
step: the service rebuilds its state from the chain at the next start), and exits with the runner's
:class:`~dfmi_py.services.runtime.ExitCode` (78 for a configuration error, before anything runs).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import click
from eth_account.signers.local import LocalAccount

from dfmi_py.api.market import Market
from dfmi_py.cli.common import DEV_ACCOUNT_INDEX, Options, pass_options, signer
from dfmi_py.errors import ConfigError, ManifestError
from dfmi_py.services.config import ServiceSettings, load_settings
from dfmi_py.services.logs import json_logging, log_event, service_logger
from dfmi_py.services.metrics import ServiceMetrics
from dfmi_py.services.runtime import FAULTS, ExitCode, Service, ServiceRunner
from dfmi_py.services.sender import TxSender

S = TypeVar("S", bound=ServiceSettings)


class ServiceExit(click.ClickException):
    """A one-line error with the exit code a supervisor acts on."""

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = int(code)


def service_options(func: Any) -> Any:
    """Add the options every service command takes."""
    options = [
        click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve Prometheus metrics on this port."),
        click.option("--once", is_flag=True, help="Sync, act on the latest block once, and exit."),
        click.option("--dry-run", is_flag=True, help="Print (log) what would be sent; send nothing."),
        click.option("--dev-account", type=DEV_ACCOUNT_INDEX, help="Sign with the devnet's development account N."),
        click.option("--key-env", help="Environment variable holding the private key [default: the file's key_env]."),
        click.option(
            "--config",
            "config_path",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="The service's TOML settings.",
        ),
    ]
    for option in options:
        func = option(func)
    return func


@dataclass(frozen=True)
class ServiceContext(Generic[S]):
    """What a service is built from."""

    settings: S
    market: Market
    account: LocalAccount
    sender: TxSender
    metrics: ServiceMetrics
    dry_run: bool
    #: The settings file (paths in it are relative to its folder).
    config_path: Path


def service_command(
    command: str, name: str, model: type[S], build: Callable[[ServiceContext[S]], Service], help_text: str
) -> click.Command:
    """The click command ``command`` that runs service ``name`` (settings ``model``, built by
    ``build``) with the options of :func:`service_options`."""

    @click.command(command, help=help_text)
    @service_options
    @pass_options
    def run(
        options: Options,
        config_path: Path,
        key_env: str | None,
        dev_account: int | None,
        dry_run: bool,
        once: bool,
        metrics_port: int | None,
    ) -> None:
        run_service(
            options,
            name,
            model,
            build,
            config_path=config_path,
            key_env=key_env,
            dev_account=dev_account,
            dry_run=dry_run,
            once=once,
            metrics_port=metrics_port,
        )

    return run


def run_service(
    options: Options,
    name: str,
    model: type[S],
    build: Callable[[ServiceContext[S]], Service],
    *,
    config_path: Path,
    key_env: str | None,
    dev_account: int | None,
    dry_run: bool,
    once: bool,
    metrics_port: int | None,
) -> None:
    """Start service ``name`` and run it until stopped; exits the process with its exit code.

    Before anything runs: an invalid file, key or option, or no deployment on the chain, exits 78
    (:attr:`ExitCode.CONFIG`); a node that does not answer while the service is built exits 69
    (:attr:`ExitCode.UNAVAILABLE`); each with one line naming the problem. Then the runner's exit
    code (0 when stopped by SIGTERM, SIGINT, ``--once``).
    """
    try:
        settings = load_settings(config_path, model)
        rpc_url = options.rpc_url or settings.rpc_url
        if not rpc_url:
            raise ConfigError("no chain given: pass --rpc-url URL, set DFMI_RPC_URL or rpc_url in the file")
        if not rpc_url.startswith(("http://", "https://")):
            raise ConfigError(f"rpc_url: must start with http:// or https://, got {rpc_url!r}")
        account = signer(key_env or settings.key_env, dev_account)
    except ConfigError as exc:
        raise ServiceExit(str(exc), ExitCode.CONFIG) from None
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(json_logging(settings.log_level, log_file=settings.log_file))
        except OSError as exc:
            raise ServiceExit(
                f"{config_path}: log_file: cannot open {settings.log_file}: {exc.strerror}", ExitCode.CONFIG
            ) from None
        _run(
            options,
            name,
            settings,
            build,
            account,
            rpc_url,
            config_path=config_path,
            dry_run=dry_run,
            once=once,
            metrics_port=metrics_port,
        )


def _run(
    options: Options,
    name: str,
    settings: S,
    build: Callable[[ServiceContext[S]], Service],
    account: LocalAccount,
    rpc_url: str,
    *,
    config_path: Path,
    dry_run: bool,
    once: bool,
    metrics_port: int | None,
) -> None:
    logger = service_logger(name)
    metrics = ServiceMetrics(name)
    port = metrics_port if metrics_port is not None else settings.metrics_port
    try:
        # The sender and the runner retry with their own backoff (counted): web3's retries are off.
        market = Market.connect(
            rpc_url,
            manifest_dir=options.deployments_dir or settings.manifest_dir,
            timeout=settings.rpc_timeout,
            retries=False,
        )
        sender = TxSender(
            market.chain,
            account,
            settings.sender.sender_config(settings.confirmations),
            dry_run=dry_run,
            logger=logger,
            metrics=metrics,
        )
        service = build(ServiceContext(settings, market, account, sender, metrics, dry_run, config_path))
    except FAULTS as exc:
        raise ServiceExit(f"{name} cannot start: {exc}", ExitCode.UNAVAILABLE) from None
    except (ConfigError, ManifestError) as exc:
        raise ServiceExit(str(exc), ExitCode.CONFIG) from None
    runner = ServiceRunner(service, market.chain, settings.runtime_config(), metrics, logger)

    def stop(signum: int, _frame: object) -> None:
        # The first signal lets the step in flight finish; a second one abandons it. Only set an
        # event or raise here: logging from a signal handler could deadlock on the logging lock.
        if runner.stopping.is_set():
            raise KeyboardInterrupt
        runner.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if port is not None:
            try:
                served = metrics.serve(port, settings.metrics_host)
            except OSError as exc:
                service.close()
                raise ServiceExit(
                    f"cannot serve metrics on {settings.metrics_host}:{port}: {exc.strerror}", ExitCode.CONFIG
                ) from None
            log_event(logger, "metrics", url=f"http://{settings.metrics_host}:{served}/metrics")
        log_event(logger, "started", account=account.address, rpc_url=rpc_url, dry_run=dry_run, once=once)
        code = runner.run(max_steps=1 if once else None)
    finally:
        metrics.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != ExitCode.OK:
        raise ServiceExit(f"{name} stopped: {code.name.lower()} (exit {int(code)})", code)
