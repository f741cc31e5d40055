"""Signing accounts: development keys for a local chain, or keys from the environment.

Every transaction the toolkit sends is signed locally with eth-account, so it works the same on
Anvil and on any other JSON-RPC node that does not hold keys.
"""

from __future__ import annotations

import os

from eth_account import Account
from eth_account.signers.local import LocalAccount

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
    if not key:
        raise ConfigError(f"set {env_var} to the hex private key of the account to use")
    try:
        account: LocalAccount = Account.from_key(key)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{env_var} is not a valid private key: {exc}") from None
    return account
