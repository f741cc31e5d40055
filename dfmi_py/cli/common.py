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
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.constants import SECPK1_N

from dfmi_py.api.market import Market
from dfmi_py.api.token import UNLIMITED
from dfmi_py.chain.accounts import dev_account
from dfmi_py.chain.client import Chain, checksum
from dfmi_py.deploy.roles import DEV_ACCOUNT_COUNT
from dfmi_py.deploy.suite import Deployment
from dfmi_py.display import amount, jsonable
from dfmi_py.errors import ConfigError, ContractRevertError, DfmiError, InputError, TransactionError
from dfmi_py.node.anvil import AnvilNode
from dfmi_py.units import to_units

T = TypeVar("T")

logger = logging.getLogger(__name__)

#: Loggers whose INFO records are the progress of long steps (compiling the contracts, deploying
#: each contract or reusing it): a person at the terminal sees them whatever the -v level.
PROGRESS_LOGGERS = ("dfmi_py.build", "dfmi_py.deploy")


#: Exit code of an error the toolkit did not foresee (sysexits' EX_SOFTWARE): a defect to report.
UNEXPECTED_EXIT_CODE = 70

#: A "-5" or "-0.5" click mistook for an option: a negative number given as an argument.
_NEGATIVE_NUMBER = re.compile(r"^-\.?\d")


def _help_hint(ctx: click.Context | None) -> str:
    """``; see 'dfmi cash transfer --help'`` for the command ``ctx`` runs (``dfmi --help`` without one)."""
    names: list[str] = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name or "")
        ctx = ctx.parent
    return f"; see '{' '.join(['dfmi', *names, '--help'])}'"


class OneLineError(click.ClickException):
    """An error shown as one ``Error: …`` line on stderr, with its own exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)


def usage_line(exc: click.UsageError) -> str:
    """A usage error as one line: what was wrong and where the command's help is.

    Click's own display (usage, a "Try" line, a blank line, the error) spreads one mistake over
    four lines, and reads a negative number as an unknown option ("No such option: -5").
    """
    if isinstance(exc, click.NoSuchOption) and _NEGATIVE_NUMBER.match(exc.option_name):
        # click stops at the first digit ("-100" reports "-1"): the number is shown as begun.
        message = (
            f"Invalid value: a negative number ({exc.option_name}…) where amounts, prices, ids and durations "
            "are positive"
        )
    elif isinstance(exc, click.NoSuchOption) and exc.ctx is not None and _is_global_option(exc.ctx, exc.option_name):
        message = (
            f"{exc.option_name} is an option of dfmi itself: give it before the command "
            f"(dfmi {exc.option_name} … {exc.ctx.info_name})"
        )
    else:
        message = " ".join(exc.format_message().split())  # click's choice lists span lines
        message = re.sub(r"\s+Did you mean (.*)\?$", r" (did you mean \1?)", message)
        message = message.replace("is not a valid integer range", "is not a whole number")
        message = message.replace("is not a valid float range", "is not a number")
    return message.rstrip(".") + _help_hint(exc.ctx)


def _is_global_option(ctx: click.Context, name: str) -> bool:
    """True when ``name`` is an option of the root command (given after a subcommand by mistake)."""
    root = ctx.find_root()
    return root is not ctx and any(name in p.opts for p in root.command.params if isinstance(p, click.Option))


class DfmiGroup(click.Group):
    """The ``dfmi`` group: every error ends the command with one line on stderr.

    - a :class:`DfmiError` (the toolkit's own, with what to do): its message, exit 1;
    - a usage error (an unknown option, a missing or malformed argument): what was wrong and the
      command's ``--help``, exit 2 (click's code, so scripts tell a mistyped command apart);
    - anything else is a defect: its type and message, a hint to rerun with ``-vv`` (which logs
      the traceback), exit :data:`UNEXPECTED_EXIT_CODE`.
    """

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise OneLineError(usage_line(exc), exc.exit_code) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DfmiError as exc:
            raise OneLineError(" ".join(str(exc).split())) from None
        except click.UsageError as exc:
            raise OneLineError(usage_line(exc), exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as exc:
            if exc.filename is None:
                raise self._unexpected(exc) from None
            raise OneLineError(file_problem(exc)) from None
        except Exception as exc:  # noqa: BLE001 (the last resort: one line, never a traceback)
            raise self._unexpected(exc) from None

    @staticmethod
    def _unexpected(exc: Exception) -> OneLineError:
        logger.debug("unexpected error", exc_info=exc)
        return OneLineError(
            f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
            "(a defect: rerun with -vv for the traceback and report it)",
            UNEXPECTED_EXIT_CODE,
        )


def file_problem(exc: OSError) -> str:
    """A file the command could not read or write, as one line (the path and the system's reason)."""
    return (
        f"cannot use {exc.filename}: {exc.strerror or exc}; check the path, that its folder exists and may be written"
    )


@dataclass
class Options:
    """Options shared by every command."""

    rpc_url: str | None
    deployments_dir: Path | None


pass_options = click.make_pass_decorator(Options)


#: ``--dev-account N``: an index of the development mnemonic (BIP-32 non-hardened: below 2**31).
DEV_ACCOUNT_INDEX = click.IntRange(0, 2**31 - 1)


def signer_options(func: Any) -> Any:
    """Add ``--key-env`` and ``--dev-account`` to a command that signs."""
    func = click.option(
        "--dev-account",
        type=DEV_ACCOUNT_INDEX,
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
    """A private key given as hex (``0x`` optional) by ``where`` (named in the error; the text
    itself never is: it may be a secret with a typo).

    Raises:
        InputError: not 64 hex digits, or not a secp256k1 private key (zero, or not below the
            curve's order).
    """
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        secret = bytes.fromhex(digits)
    except ValueError:
        raise InputError(f"{where} does not hold a private key: it is not hex (expected 64 hex digits)") from None
    if len(secret) != 32:
        raise InputError(f"{where} does not hold a private key: {len(digits)} hex digits where a key has 64")
    value = int.from_bytes(secret, "big")
    if not 0 < value < SECPK1_N:
        problem = "it is zero" if value == 0 else "it is not below the curve's order"
        raise InputError(
            f"{where} does not hold a valid private key: {problem} (secp256k1 keys lie in 1..n-1); "
            "check that the right key was copied"
        )
    return secret


def private_key_from_env(variable: str) -> bytes:
    """The private key in ``$variable`` (hex).

    Raises:
        ConfigError: the variable is not set, or empty.
        InputError: it does not hold a private key.
    """
    text = os.environ.get(variable)
    if text is None:
        raise ConfigError(f"${variable} is not set: it should hold the private key (64 hex digits)")
    if not text.strip():
        raise ConfigError(
            f"${variable} is not set to a key (it is empty): it should hold the private key (64 hex digits)"
        )
    return private_key(text, f"${variable}")


#: An amount as the command line takes it: plain digits with an optional decimal part.
_AMOUNT = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")
_UINT256_MAX = 2**256 - 1


def units_of(text: str, decimals: int, *, what: str = "AMOUNT", positive: bool = False) -> int:
    """``text`` (whole units with decimals, e.g. ``1250.50``) in token units.

    Stricter than :func:`dfmi_py.units.to_units`, and saying so in the command line's words: an
    amount is plain digits (no sign, exponent, thousands separator or NaN), fits a uint256, and
    with ``positive`` is above zero.

    Raises:
        InputError: the text is not such an amount (the message says which rule it breaks).
    """
    body = text.strip()
    if not body:
        raise InputError(f"{what} is empty: give a number such as 12.50")
    if body.startswith("-"):
        raise InputError(f"{what} {text!r} is negative: amounts are positive")
    if not _AMOUNT.match(body.removeprefix("+")):
        raise InputError(
            f"{what} {text!r} is not an amount: write plain digits with an optional decimal point "
            "(e.g. 1000 or 1250.50; no exponent, sign or separators)"
        )
    try:
        units = to_units(body.removeprefix("+"), decimals)
    except InputError:
        raise InputError(f"{what} {text!r} has more than {decimals} decimal places (the token's precision)") from None
    if units > _UINT256_MAX:
        raise InputError(f"{what} {text!r} is too large: it does not fit a uint256 in token units")
    if positive and units == 0:
        raise InputError(f"{what} is zero: give an amount above zero")
    return units


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
    """The account a command signs with: development account ``dev_index``, or the key in
    ``$key_env`` (checked here, so a bad key is named as such before anything is read or sent).

    Raises:
        ConfigError: ``$key_env`` is not set or empty (the message names ``--dev-account`` too).
        InputError: it does not hold a private key.
    """
    if dev_index is not None:
        return dev_account(dev_index)
    if not os.environ.get(key_env, "").strip():
        state = "is not set" if key_env not in os.environ else "is not set to a key (it is empty)"
        raise ConfigError(
            f"${key_env} {state}: put the signer's private key (64 hex digits) in it, name another variable "
            "with --key-env, or on a devnet sign with --dev-account N"
        )
    account: LocalAccount = Account.from_key(private_key_from_env(key_env))
    return account


def apply_each(
    chain: Chain, sender: str, action: str, items: Sequence[tuple[str, Any, Callable[[], T]]]
) -> Iterator[tuple[str, T]]:
    """Send one transaction per item of a command over several arguments, all checked first.

    Each item is ``(label, call, send)``: ``call`` is the contract call ``send()`` will make. No
    label may come twice; every call is run with ``eth_call`` and estimated from ``sender``
    before the first is sent, so an item the chain refuses stops the command with nothing sent.
    Should one still fail once sent (the chain moved in between), the error says exactly which
    items were applied and which were not sent. Yields ``(label, send())`` as each is applied.

    Raises:
        InputError: a label twice, or an item the chain would refuse (nothing was sent).
        TransactionError: an item failed once sent (the message lists what was applied).
    """
    labels = [label for label, _, _ in items]
    twice = next((label for i, label in enumerate(labels) if label in labels[:i]), None)
    if twice is not None:
        raise InputError(f"{twice} is given twice: give each once (nothing was sent)")
    refused = []
    for label, call, _ in items:
        try:
            chain.preflight(call, sender, f"{action} {label}")
        except DfmiError as exc:
            refused.append(str(exc))
    if refused:
        count = f"{len(refused)} of {len(items)}" if len(items) > 1 else "it"
        raise InputError(f"nothing was sent: {count} would fail: " + "; ".join(refused))
    applied: list[str] = []
    for index, (label, _, send) in enumerate(items):
        try:
            result = send()
        except DfmiError as exc:
            if len(items) == 1:
                raise
            rest = ", ".join(labels[index + 1 :]) or "none"
            done = ", ".join(applied) or "none"
            raise TransactionError(f"{exc}; applied before it: {done}; not sent: {rest}") from None
        applied.append(label)
        yield label, result


def recipient(text: str, what: str = "TO") -> str:
    """The checksummed address tokens are sent to; never the zero address (what is sent there is lost).

    Raises:
        InputError: not an address, a wrong checksum, or the zero address.
    """
    address = checksum(text)
    if int(address, 16) == 0:
        raise InputError(f"{what} is the zero address: tokens sent there are lost; give the recipient's address")
    return address


def pulled_from_wallet(
    market: Market,
    owner: LocalAccount,
    spender: tuple[str, str],
    call: Any,
    send: Callable[[bool], T],
    action: str,
) -> T:
    """A command that makes a contract pull the signer's cash, approving it only when it must.

    ``call`` (what ``send`` sends) is run with ``eth_call`` first: refused for any reason but a
    missing allowance, nothing is sent, no approval either (an approval left behind for an
    action that never happened could be spent later). Refused only for the allowance, ``send(True)``
    approves and sends; should the action still fail, the approval is set back to what it was,
    and the error says so.

    Args:
        spender: ``(address, name)``: the contract that pulls, and how ``dfmi cash approve`` names it.
        send: Sends the action; its argument says whether to approve first.
    """
    address, name = spender
    try:
        market.chain.preflight(call, owner.address, action)
    except ContractRevertError as exc:
        if exc.error != "ERC20InsufficientAllowance":
            raise
    else:
        return send(False)
    before = market.cash.allowance(owner.address, address)
    try:
        return send(True)
    except DfmiError as exc:
        if market.cash.allowance(owner.address, address) == before:
            raise
        try:
            market.cash.approve(owner, address, before)
            note = f"the approval it sent was set back to {market.cash.format(before)}"
        except DfmiError:
            note = f"the approval it sent stays: revoke it with `dfmi cash approve {name} 0`"
        raise TransactionError(f"{' '.join(str(exc).split())}; {note}") from None


def open_market(options: Options) -> Market:
    """Connect to ``--rpc-url`` and open the deployed suite."""
    if not options.rpc_url:
        raise ConfigError("no chain given: pass --rpc-url URL or set DFMI_RPC_URL")
    return Market.connect(options.rpc_url, manifest_dir=options.deployments_dir)


#: Signals that end a command holding a local node as Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`KeyboardInterrupt` in the block, as Ctrl-C does.

    A command that started a local node stops it on the way out; the signals' default action
    would end Python at once, with no cleanup and no ``atexit``, and leave the node running (it
    lives in a session of its own). After the first signal the others are ignored, so nothing
    interrupts the stopping. Outside the main thread (where Python cannot handle signals) the
    block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        logger.info("%s received: stopping", signal.Signals(signum).name)
        raise KeyboardInterrupt

    saved = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def local_node(node: AnvilNode) -> Iterator[AnvilNode]:
    """``node`` started for the block and stopped after it, whether the block ends, fails, is
    interrupted with Ctrl-C or the process is sent SIGTERM or SIGHUP."""
    with stopped_by_signals(), node:
        yield node


@contextlib.contextmanager
def chain_for(options: Options) -> Iterator[tuple[Chain, AnvilNode | None]]:
    """The chain at ``--rpc-url``, or a local Anvil started (and stopped) for the block."""
    if options.rpc_url:
        yield Chain.connect(options.rpc_url), None
        return
    with local_node(AnvilNode(accounts=DEV_ACCOUNT_COUNT)) as node:
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
    with contextlib.suppress(KeyboardInterrupt):  # entered first: a stop asked for once told how is clean
        click.echo(f"serving {node.rpc_url}; press Ctrl-C (or send SIGTERM) to stop")
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
    return UNLIMITED if text is None else units_of(text, decimals)


def show_allowance(units: int, decimals: int, symbol: str) -> str:
    """An allowance as a person reads it (``unlimited`` for ``type(uint256).max``, which
    OpenZeppelin never decreases when spent)."""
    return "unlimited" if units == UNLIMITED else amount(units, decimals, symbol)
