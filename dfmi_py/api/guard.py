"""One guard over every public method of the API: a bad argument is an :class:`InputError`.

Each public method of a component (every :class:`~dfmi_py.api.base.ContractAPI`, the
:class:`~dfmi_py.api.market.Market`, the risk reader, the books) is wrapped so that:

- an argument of the wrong kind for its annotation (``None`` or a ``float`` where an ``int`` or an
  address is expected, a ``bool`` for an amount, anything but a signing account for the signer) is
  refused before anything is read or sent, naming the method and the argument;
- what web3 raises on a value the contract's types cannot take (a negative amount for a
  ``uint256``, one of 2**256 or more, a malformed address) becomes one line that names the
  contract function's signature;
- a read from an address that holds no contract says so (``eth_getCode`` is empty);
- a revert of a view read outside :meth:`dfmi_py.chain.Chain.call` is decoded like any other;
- a JSON-RPC error of the node (a block beyond the head...) becomes one line naming the method.

The guard only turns exceptions into the toolkit's tree (:mod:`dfmi_py.errors`); it never
swallows one, and nothing is sent for an argument it refuses.
"""

from __future__ import annotations

import functools
import inspect
import numbers
import re
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from eth_abi.exceptions import EncodingError
from eth_account.signers.local import LocalAccount
from web3.exceptions import (
    BadFunctionCallOutput,
    BlockNumberOutOfRange,
    InvalidAddress,
    MismatchedABI,
    Web3RPCError,
    Web3ValidationError,
)

from dfmi_py.chain.client import REVERTS
from dfmi_py.errors import ChainConnectionError, DfmiError, InputError, NodeRequestError, TransactionError

C = TypeVar("C", bound=type)

#: What web3 and eth-abi raise for a value that does not fit the contract function's types.
_ABI_ERRORS = (Web3ValidationError, MismatchedABI, InvalidAddress, EncodingError)
#: Arguments that are block numbers: checked against the chain's head.
_BLOCK_PARAMS = ("from_block", "to_block", "block", "at_block")
#: Attribute of a wrapped method (so it is not wrapped twice).
_GUARDED = "__dfmi_guarded__"
#: The kinds of argument the guard checks, by annotation: (accepted types, what the message asks for).
_KINDS: dict[object, tuple[tuple[type, ...], str]] = {
    int: ((numbers.Integral,), "a whole number (int)"),  # numpy's integers too
    str: ((str,), "a text (str; an address is 0x and 40 hex digits)"),
    bytes: ((bytes,), "bytes"),
    bool: ((bool,), "True or False"),
    LocalAccount: ((LocalAccount,), "a signing account (dfmi_py.chain.dev_account(N) or load_account(VAR))"),
}


def guard_public_methods(cls: C) -> C:
    """Wrap every public method defined on ``cls``, its ``__init__`` and the getters of its public
    properties (cached or not) with the guard (see the module's text)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("_"):
            pass
        elif isinstance(value, functools.cached_property) and not getattr(value.func, _GUARDED, False):
            cached = functools.cached_property(_guarded(value.func, name))
            cached.__set_name__(cls, name)
            setattr(cls, name, cached)
            continue
        elif isinstance(value, property) and value.fget is not None and not getattr(value.fget, _GUARDED, False):
            setattr(cls, name, property(_guarded(value.fget, name), value.fset, value.fdel, value.__doc__))
            continue
        public = not name.startswith("_") or name == "__init__"
        if not public or not inspect.isfunction(value) or getattr(value, _GUARDED, False):
            continue
        setattr(cls, name, _guarded(value, name))
    return cls


def _guarded(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    checks: list[tuple[str, tuple[type, ...], bool, str]] | None = None
    signature = inspect.signature(func)

    def argument_checks() -> list[tuple[str, tuple[type, ...], bool, str]]:
        nonlocal checks
        if checks is None:
            try:
                hints = typing.get_type_hints(func)
            except Exception:  # noqa: BLE001 (a name only imported for type checking: no checks)
                hints = {}
            found: list[tuple[str, tuple[type, ...], bool, str]] = []
            for param, hint in hints.items():
                kind = _kind(hint)
                if param != "return" and kind is not None:
                    found.append((param, *kind))
            checks = found
        return checks

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        owner = type(args[0]).__name__ if args else ""
        where = f"{owner}()" if name == "__init__" else f"{owner}.{name}"
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputError(f"{where}: {exc}") from None
        for param, accepted, optional, wanted in argument_checks():
            if param not in bound.arguments:
                continue
            kind = signature.parameters[param].kind
            given = bound.arguments[param]
            # *args and **kwargs: the annotation is each value's
            values = (
                given
                if kind is inspect.Parameter.VAR_POSITIONAL
                else given.values()
                if kind is inspect.Parameter.VAR_KEYWORD
                else (given,)
            )
            for value in values:
                if value is None and optional:
                    continue
                if not isinstance(value, accepted) or (bool not in accepted and isinstance(value, bool)):
                    raise InputError(f"{where}: {param} must be {wanted}, got {_shown(value)}")
        _check_blocks(args[0] if args else None, bound.arguments, where)
        try:
            return func(*args, **kwargs)
        except DfmiError:
            raise
        except _ABI_ERRORS as exc:
            raise InputError(f"{where}: {_abi_problem(exc, args[0] if args else None)}") from None
        except REVERTS as exc:
            chain = getattr(args[0], "chain", None) if args else None
            if chain is None:
                raise TransactionError(f"{where}: reverted: {_one_line(str(exc))}") from None
            raise chain.decode_revert(exc, where) from None
        except BadFunctionCallOutput as exc:
            raise _no_contract(args[0] if args else None, where, exc) from None
        except BlockNumberOutOfRange:
            raise InputError(
                f"{where}: a block beyond the chain's head was asked for: give one at or below it"
            ) from None
        except Web3RPCError as exc:
            raise NodeRequestError(f"{where}: the node refused a request: {_one_line(str(exc))}") from None
        except requests.ConnectionError:
            raise ChainConnectionError(f"{where}: the node does not answer: check that it runs") from None

    setattr(wrapper, _GUARDED, True)
    return wrapper


def _check_blocks(obj: object, arguments: dict[str, Any], where: str) -> None:
    """Refuse a negative block number, or one beyond the chain's head (read only when one is given)."""
    given = {name: arguments[name] for name in _BLOCK_PARAMS if isinstance(arguments.get(name), int)}
    if not any(given.values()):
        return
    for name, block in given.items():
        if block < 0:
            raise InputError(f"{where}: {name} must be a block number >= 0, got {block}")
    chain = getattr(obj, "chain", None) or getattr(getattr(obj, "market", None), "chain", None)
    w3 = getattr(chain, "w3", None)
    if w3 is None:
        return
    head = int(w3.eth.block_number)
    for name, block in given.items():
        if block > head:
            raise InputError(
                f"{where}: {name} {block} is beyond the chain's head, block {head}: give a block at or below it"
            )


def _kind(hint: object) -> tuple[tuple[type, ...], bool, str] | None:
    """The accepted types, whether ``None`` is allowed, and the text asking for them."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        members = [m for m in typing.get_args(hint) if m is not type(None)]
        optional = len(members) < len(typing.get_args(hint))
        if len(members) == 1 and members[0] in _KINDS:
            accepted, wanted = _KINDS[members[0]]
            return accepted, optional, wanted
        return None
    if hint in _KINDS:
        accepted, wanted = _KINDS[hint]
        return accepted, False, wanted
    return None


def _shown(value: object) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})" if value is not None else "None"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _abi_problem(exc: Exception, obj: object) -> str:
    """One line for a value the contract function's types cannot take, naming its signature."""
    text = str(exc)
    found = re.search(r"named `(\w+)`", text) or re.search(r"with name `(\w+)`", text)
    abi = getattr(getattr(obj, "contract", None), "abi", None) or []
    signatures = [
        f"{item['name']}({','.join(str(i['type']) for i in item.get('inputs', []))})"
        for item in abi
        if found is not None and item.get("type") == "function" and item.get("name") == found.group(1)
    ]
    if signatures:
        return (
            f"the arguments do not fit {' or '.join(signatures)}: a uint is a whole number from 0 to 2**256-1, "
            "an int256 from -2**255 to 2**255-1, an address 0x and 40 hex digits"
        )
    if found is not None:
        return (
            f"the arguments do not fit the contract function {found.group(1)}: a uint is a whole number from 0 "
            "to 2**256-1, an address 0x and 40 hex digits"
        )
    first = _one_line(text)
    return first if len(first) <= 200 else first[:197] + "..."


def _no_contract(obj: object, where: str, exc: Exception) -> DfmiError:
    """Why a read returned nothing readable: most often no contract at the address."""
    contract = getattr(obj, "contract", None)
    chain = getattr(obj, "chain", None)
    address = getattr(contract, "address", None)
    if chain is not None and address is not None:
        try:
            empty = len(chain.w3.eth.get_code(address)) == 0
        except Exception:  # noqa: BLE001 (the node failed: the original problem is reported)
            empty = False
        if empty:
            return InputError(
                f"{where}: {address} holds no contract on this chain (eth_getCode is empty): check the address"
            )
    return NodeRequestError(f"{where}: the contract's answer cannot be read: {_one_line(str(exc))[:200]}")
