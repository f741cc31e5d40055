"""The toolkit's exception tree.

Every error the toolkit raises on purpose is a :class:`DfmiError`; its message says what was
wrong and what to do about it. Classes also subclass the closest builtin, so callers that catch
``ValueError`` or ``ConnectionError`` keep working.
"""

from __future__ import annotations

from typing import Any


class DfmiError(Exception):
    """Root of every error the toolkit raises on purpose."""


class ToolchainError(DfmiError):
    """The compiler or the local node cannot be found or did not work."""


class CompilationError(ToolchainError):
    """The Solidity sources did not compile (or compiled with warnings)."""


class NodeError(ToolchainError):
    """A local node could not be started, reached or stopped."""


class ConfigError(DfmiError, ValueError):
    """A setting is missing or invalid."""


class ChainConnectionError(DfmiError, ConnectionError):
    """The JSON-RPC endpoint cannot be reached or is not an Ethereum node."""


class NodeRequestError(DfmiError):
    """The node answered a request with an error that is not a contract's revert (a block beyond
    its head, a method it lacks, state it has pruned)."""


class ManifestError(DfmiError):
    """No deployment manifest for this chain, or it does not match what is on the chain."""


class DeploymentError(DfmiError):
    """The suite could not be deployed as planned (e.g. a contract did not land where predicted)."""


class InputError(DfmiError, ValueError):
    """A value given by the caller is invalid before anything is sent to the chain."""


class TransactionError(DfmiError):
    """A transaction was rejected by a contract or failed on the chain."""


class ContractRevertError(TransactionError):
    """A contract reverted with a custom error, decoded into its name and arguments.

    The message shows the error as a person reads it (enum values and roles by name, times in
    ISO 8601: see :meth:`dfmi_py.chain.Chain.decode_error`); ``args_by_name`` keeps the raw values
    for programs.

    Attributes:
        error: The custom error's name, e.g. ``"CashMinterAllowanceExceeded"``.
        args_by_name: The error's arguments by name, raw (integers, checksummed addresses, hex).
        shown: The error as the message shows it, e.g.
            ``"NettingInvalidState(roundId=3, expected=VERIFIED, actual=COLLECTING)"``.
    """

    #: What the user can do about it, appended to the message.
    hint = ""

    def __init__(self, error: str, args: dict[str, Any], action: str = "", *, shown: str | None = None) -> None:
        self.error = error
        self.args_by_name = args
        self.shown = shown or f"{error}(" + ", ".join(f"{k}={v}" for k, v in args.items()) + ")"
        where = f"{action}: " if action else ""
        hint = f"; {self.hint}" if self.hint else ""
        super().__init__(f"{where}reverted with {self.shown}{hint}")


class NotOnboardedError(ContractRevertError):
    """An account is not active (never onboarded, offboarded or frozen) in the compliance registry."""

    def __init__(self, error: str, args: dict[str, Any], action: str = "", *, shown: str | None = None) -> None:
        status = args.get("status")
        account = args.get("account", "the account")
        if status == 2:
            self.hint = f"{account} is frozen; only the compliance officer can unfreeze it"
        else:
            self.hint = f"{account} is not onboarded; ask the compliance officer (`dfmi compliance onboard {account}`)"
        super().__init__(error, args, action, shown=shown)


class InsufficientBalanceError(ContractRevertError):
    """An account does not hold enough of a token for the requested movement."""

    hint = "fund the account first"


class SignatureError(DfmiError, ValueError):
    """A message could not be signed or a signature does not verify."""


class DisclosureError(DfmiError, ValueError):
    """An identity envelope cannot be opened: the key given is not one of its recipients, or the
    envelope was altered, is malformed, or belongs to another account, chain or registry."""


#: Custom errors that get a more specific class than :class:`ContractRevertError`.
REVERT_CLASSES: dict[str, type[ContractRevertError]] = {
    "ComplianceAccountNotActive": NotOnboardedError,
    "ERC20InsufficientBalance": InsufficientBalanceError,
}
