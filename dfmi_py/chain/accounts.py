"""Signing accounts: development keys for a local chain, or keys from the environment.

Every transaction the toolkit sends is signed locally with eth-account, so it works the same on
Anvil and on any other JSON-RPC node that does not hold keys.
"""

from __future__ import annotations

import os

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_keys.constants import SECPK1_N

from dfmi_py.errors import ConfigError
from dfmi_py.node.anvil import DEV_MNEMONIC

Account.enable_unaudited_hdwallet_features()


def dev_account(index: int) -> LocalAccount:
    """The ``index``-th development account of the local chain's well-known mnemonic."""
    if index < 0:
        raise ConfigError(f"development account index must be >= 0, got {index}")
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


def dev_accounts(count: int, start: int = 0) -> list[LocalAccount]:
    """``count`` development accounts from index ``start``."""
    return [dev_account(i) for i in range(start, start + count)]


def load_account(env_var: str) -> LocalAccount:
    """Load a private key from the environment variable ``env_var``.

    Raises:
        ConfigError: when the variable is unset or not a private key.
    """
    key = os.environ.get(env_var)
    if not key or not key.strip():
        raise ConfigError(f"set {env_var} to the hex private key of the account to use")
    problem = key_problem(key)
    if problem is not None:
        raise ConfigError(f"{env_var} is not a private key: {problem}")
    account: LocalAccount = Account.from_key(key.strip())
    return account


def key_problem(key: str) -> str | None:
    """What is wrong with ``key`` as a hex private key (``None``: nothing), in words a person acts on.

    The checks are the ones eth-account makes, said plainly: 64 hex digits (an optional ``0x``),
    not all zero, below the curve's order.
    """
    digits = key.strip().removeprefix("0x").removeprefix("0X")
    if any(c not in "0123456789abcdefABCDEF" for c in digits):
        return "it holds characters that are not hex digits (expected 64 hex digits, with or without 0x)"
    if len(digits) != 64:
        return f"it has {len(digits)} hex digits, a private key has 64 (32 bytes)"
    value = int(digits, 16)
    if value == 0:
        return "it is all zeros, which no account has: set the account's real key"
    if value >= SECPK1_N:  # the order of secp256k1's group: keys lie in 1..n-1
        return "it is not below the secp256k1 curve order, so no account has it"
    return None
