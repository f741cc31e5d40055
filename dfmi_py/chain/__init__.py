"""Talking to a chain: connection, accounts, transactions and revert decoding."""

from dfmi_py.chain.accounts import dev_account, dev_accounts, load_account
from dfmi_py.chain.client import Chain, Fees

__all__ = ["Chain", "Fees", "dev_account", "dev_accounts", "load_account"]
