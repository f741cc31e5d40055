"""What every ``dfmi`` command group shares: the global options, signing, opening the market,
JSON files in and out, and a local chain for commands that start one.

Command groups import from here, never from each other's modules or from :mod:`dfmi_py.cli.main`
(which only assembles the groups), so the CLI has no import cycles.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account.signers.local import LocalAccount

from dfmi_py.api.market import Market
from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain.accounts import dev_account, load_account
from dfmi_py.chain.client import Chain, checksum
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.deploy.suite import Deployment
from dfmi_py.display import amount, jsonable
from dfmi_py.errors import ConfigError, DfmiError, InputError
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.units import to_units

T = TypeVar("T")

#: Loggers whose INFO records are the progress of long steps (compiling the contracts, deploying
#: each contract or reusing it): a person at the terminal sees them whatever the -v level.
PROGRESS_LOGGERS = ("dfmi_py.build", "dfmi_py.deploy")


class DfmiGroup(click.Group):
    """A click group that turns every :class:`DfmiError` into one line on stderr and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DfmiError as exc:
            raise click.ClickException(str(exc)) from None


@dataclass
class Options:
    """Options shared by every command."""

    rpc_url: str | None
    deployments_dir: Path | None


pass_options = click.make_pass_decorator(Options)


def signer_options(func: Any) -> Any:
    """Add ``--key-env`` and ``--dev-account`` to a command that signs."""
    func = click.option(
        "--dev-account",
        type=click.IntRange(min=0),
        help="Sign with the local chain's development account N (devnets only).",
    )(func)
    return click.option(
        "--key-env",
        default="DFMI_PRIVATE_KEY",
        show_default=True,
        help="Environment variable holding the signer's private key.",
    )(func)


def json_option(func: Any) -> Any:
    """Add ``--json`` to a read: machine output, amounts in raw token units, times in Unix seconds,
    enum values by name."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")(func)


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON document (through :func:`dfmi_py.display.jsonable`)."""
    click.echo(json.dumps(jsonable(data), indent=2))


def private_key(text: str, where: str) -> bytes:
    """A private key given as hex (``0x`` optional) by ``where`` (named in the error).

    Raises:
        InputError: not 32 bytes of hex.
    """
    try:
        secret = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise InputError(f"{where} does not hold a private key (64 hex digits)")
    return secret


def private_key_from_env(variable: str) -> bytes:
    """The private key in ``$variable`` (hex).

    Raises:
        ConfigError: the variable is not set.
        InputError: it does not hold a private key.
    """
    text = os.environ.get(variable)
    if not text:
        raise ConfigError(f"${variable} is not set: it should hold the private key (64 hex digits)")
    return private_key(text, f"${variable}")


def viewer_key_option(func: Any) -> Any:
    """Add ``--viewer-key-env VAR`` to a read that shows identities (the key that opens them)."""
    return click.option(
        "--viewer-key-env",
        metavar="VAR",
        help="Environment variable holding the reader's private key (hex): the identities it opens are shown "
        "(the regulator's disclosure key opens all, an account's key its own).",
    )(func)


def viewer_key(variable: str | None) -> bytes | None:
    """The key of ``--viewer-key-env`` (``None`` when not given)."""
    return None if variable is None else private_key_from_env(variable)


def signer(key_env: str, dev_index: int | None) -> LocalAccount:
    """The account a command signs with."""
    return dev_account(dev_index) if dev_index is not None else load_account(key_env)


def open_market(options: Options) -> Market:
    """Connect to ``--rpc-url`` and open the deployed suite."""
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")
    return Market.connect(options.rpc_url, manifest_dir=options.deployments_dir)


@contextlib.contextmanager
def chain_for(options: Options) -> Iterator[tuple[Chain, AnvilNode | None]]:
    """The chain at ``--rpc-url``, or a local Anvil started (and stopped) for the block."""
    if options.rpc_url:
        yield Chain.connect(options.rpc_url), None
        return
    with AnvilNode(accounts=DEV_ACCOUNT_COUNT) as node:
        click.echo(f"started a local Anvil at {node.rpc_url} (pid {node.pid})", err=True)
        yield Chain.connect(node.rpc_url), node


class _ProgressHandler(logging.Handler):
    """Progress lines on stderr as they are (other levels with their level and logger)."""

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno != logging.INFO:
            text = f"{record.levelname} {record.name}: {text}"
        click.echo(text, err=True)


@contextlib.contextmanager
def progress_shown(verbose: int) -> Iterator[None]:
    """Show the :data:`PROGRESS_LOGGERS`' records on stderr for the block (with -vv their debug
    records too), then leave those loggers as they were, so library use stays silent."""
    loggers = [logging.getLogger(name) for name in PROGRESS_LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    handler = _ProgressHandler()
    for lg in loggers:
        lg.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        lg.propagate = False
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate


def print_deployment(deployment: Deployment) -> None:
    """Print where each contract lives."""
    manifest = deployment.manifest
    click.echo(f"chain {manifest.chain_id}: manifest {deployment.manifest_file}")
    width = max((len(name) for name in manifest.contracts), default=0)
    for name, record in manifest.contracts.items():
        click.echo(f"  {name:<{width}} {record.address}  (block {record.block})")


def deployment_record(deployment: Deployment) -> dict[str, Any]:
    """Where each contract lives, for ``--json``."""
    manifest = deployment.manifest
    return {
        "chain_id": manifest.chain_id,
        "genesis_hash": manifest.genesis_hash,
        "manifest": str(deployment.manifest_file),
        "contracts": {name: {"address": r.address, "block": r.block} for name, r in manifest.contracts.items()},
    }


def wait_for_interrupt(node: AnvilNode) -> None:
    """Keep a local node serving until Ctrl-C."""
    click.echo(f"serving {node.rpc_url}; press Ctrl-C to stop")
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(1)


def market_option(func: Any) -> Any:
    """Add ``--market NAME``: the underlying (its feed and engine) a command acts on."""
    return click.option(
        "--market", "market_name", metavar="NAME", help="The underlying to act on [default: the first]."
    )(func)


#: What a SPENDER may be besides an address (``engine:NAME``: the engine of underlying NAME).
SPENDER_NAMES = ("engine", "engine:NAME", "fund", "settlement", "netting")


def spender_address(market: Market, spender: str) -> str:
    """The address SPENDER names: an address, or a component of the deployment (:data:`SPENDER_NAMES`).

    Raises:
        InputError: neither an address nor a known component (the message lists the choices).
    """
    if spender.startswith("0x"):
        return checksum(spender)
    kind, _, name = spender.partition(":")
    if kind == "engine":
        return market.underlying(name if name else None).derivatives.address
    components = {"fund": market.fund, "settlement": market.settlement, "netting": market.netting}
    if spender in components:
        return components[spender].address
    markets = ", ".join(market.markets)
    raise InputError(
        f"unknown spender {spender!r}: give an address or one of engine, engine:NAME (NAME: {markets}), "
        "fund, settlement, netting"
    )


def allowance_units(text: str | None, unlimited: bool, decimals: int) -> int:
    """The allowance an ``approve SPENDER [AMOUNT] [--max]`` command grants, in token units.

    Raises:
        InputError: both AMOUNT and --max, or neither.
    """
    if unlimited == (text is not None):
        raise InputError("give an AMOUNT (0 revokes) or --max for an unlimited allowance, not both")
    return UNLIMITED if text is None else to_units(text, decimals)


def show_allowance(units: int, decimals: int, symbol: str) -> str:
    """An allowance as a person reads it (``unlimited`` for ``type(uint256).max``, which
    OpenZeppelin never decreases when spent)."""
    return "unlimited" if units == UNLIMITED else amount(units, decimals, symbol)
