"""A connection to one chain, with the compiled artifacts to build contracts and decode reverts."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexStr
from eth_utils.abi import function_abi_to_4byte_selector
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError, TimeExhausted
from web3.types import TxParams, TxReceipt

from dfmi_py.build import Artifacts, compile_contracts
from dfmi_py.display import abi_value, call_text
from dfmi_py.errors import REVERT_CLASSES, ChainConnectionError, ContractRevertError, InputError, TransactionError

logger = logging.getLogger(__name__)

#: Seconds between receipt polls; web3's 0.1 s default makes every transaction slow on a devnet.
RECEIPT_POLL_SECONDS = 0.005
#: Head-room over the node's gas estimate, in percent. An estimate run in the same second as an
#: earlier write of block.timestamp misses the cost of rewriting that slot when the transaction is
#: mined a second later (seen on Anvil with the default fund's last-draw time).
GAS_HEADROOM_PERCENT = 20


class Chain:
    """A web3 connection plus the project's artifacts.

    Args:
        w3: A connected Web3 instance.
        artifacts: Compiled contracts; compiled (or loaded from cache) when ``None``.
    """

    def __init__(self, w3: Web3, artifacts: Artifacts | None = None) -> None:
        self.w3 = w3
        self.artifacts = artifacts if artifacts is not None else compile_contracts()
        self._errors = _error_table(self.artifacts)
        self._chain_id: int | None = None
        #: The receipt of the last transaction this connection sent (for gas and logs).
        self.last_receipt: TxReceipt | None = None

    @classmethod
    def connect(cls, rpc_url: str, *, timeout: float = 30.0, artifacts: Artifacts | None = None) -> Chain:
        """Connect to a JSON-RPC endpoint and check that it answers.

        Raises:
            ChainConnectionError: when the URL is malformed or nothing answers there.
        """
        if not rpc_url.startswith(("http://", "https://")):
            raise ChainConnectionError(f"RPC URL must start with http:// or https://, got {rpc_url!r}")
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        try:
            w3.eth.chain_id  # noqa: B018 (a round trip to check the node answers)
        except Exception as exc:  # noqa: BLE001 (any failure here means: no usable node)
            raise ChainConnectionError(
                f"no Ethereum JSON-RPC node answers at {rpc_url} ({type(exc).__name__}): "
                "check the URL, or omit it to start a local chain"
            ) from None
        return cls(w3, artifacts)

    @property
    def chain_id(self) -> int:
        """The chain id (cached)."""
        if self._chain_id is None:
            self._chain_id = int(self.w3.eth.chain_id)
        return self._chain_id

    # ------------------------------------------------------------------ contracts

    def now(self) -> int:
        """The latest block's time (unix seconds): the chain's clock, not the wall clock."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def block_times(self, blocks: Iterable[int]) -> dict[int, int]:
        """The time of each of ``blocks`` (each block read once)."""
        return {block: int(self.w3.eth.get_block(block)["timestamp"]) for block in set(blocks)}

    def contract(self, name: str, address: str) -> Contract:
        """A web3 contract object for the compiled contract ``name`` at ``address``."""
        return self.w3.eth.contract(address=to_checksum_address(address), abi=self.artifacts[name].abi)

    def deploy(self, name: str, args: Sequence[Any], sender: LocalAccount) -> tuple[Contract, TxReceipt]:
        """Deploy the compiled contract ``name`` with constructor ``args``.

        Returns:
            The contract at its new address, and the deployment receipt.
        """
        artifact = self.artifacts[name]
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            tx = factory.constructor(*args).build_transaction(self._base_tx(sender))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.decode_revert(exc, f"deploy {name}") from None
        receipt = self._send(tx, sender, f"deploy {name}")
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionError(f"deploy {name}: the receipt has no contract address")
        return self.contract(name, address), receipt

    # ------------------------------------------------------------------ transactions

    def transact(self, call: ContractFunction, sender: LocalAccount, action: str = "") -> TxReceipt:
        """Estimate, sign, send and wait for a contract call.

        A call the contract would reject raises before anything is sent.

        Raises:
            ContractRevertError: the contract rejects the call; carries the custom error.
            TransactionError: the transaction failed for another reason.
        """
        action = action or call.fn_name
        try:
            tx = call.build_transaction(self._base_tx(sender))
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.decode_revert(exc, action) from None
        tx["gas"] = int(tx["gas"]) * (100 + GAS_HEADROOM_PERCENT) // 100
        return self._send(tx, sender, action)

    def call(self, call: ContractFunction, action: str = "") -> Any:
        """Run a view call, decoding a revert into :class:`ContractRevertError`."""
        try:
            return call.call()
        except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
            raise self.decode_revert(exc, action or call.fn_name) from None

    def _base_tx(self, sender: LocalAccount) -> TxParams:
        return {
            "from": sender.address,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "chainId": self.chain_id,
        }

    def _send(self, tx: TxParams, sender: LocalAccount, action: str) -> TxReceipt:
        signed = sender.sign_transaction(cast(dict[str, Any], tx))
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120, poll_latency=RECEIPT_POLL_SECONDS)
        except TimeExhausted as exc:
            raise TransactionError(f"{action}: no receipt after 120 s ({exc})") from None
        except ValueError as exc:  # the node refused the transaction (nonce, funds, ...)
            raise TransactionError(f"{action}: the node refused the transaction: {exc}") from None
        if receipt["status"] != 1:
            raise TransactionError(f"{action}: transaction {tx_hash.hex()} reverted on-chain")
        logger.debug("%s: mined in block %s, gas %s", action, receipt["blockNumber"], receipt["gasUsed"])
        self.last_receipt = receipt
        return receipt

    # ------------------------------------------------------------------ reverts

    def decode_revert(self, exc: Exception, action: str = "") -> ContractRevertError | TransactionError:
        """Turn a web3 revert exception into a :class:`ContractRevertError` with the error's name."""
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            decoded = self.decode_error(data)
            if decoded is not None:
                error_class = REVERT_CLASSES.get(decoded.name, ContractRevertError)
                return error_class(decoded.name, decoded.args, action, shown=decoded.text)
        message = getattr(exc, "message", None) or str(exc)
        return TransactionError(f"{action}: reverted: {message}")

    def decode_error_data(self, data: str) -> tuple[str, dict[str, Any]] | None:
        """Decode revert data ``0x<selector><args>`` with every custom error the project knows.

        Returns:
            The error's name and its raw arguments by name (integers, checksummed addresses,
            ``0x`` hex for bytes), or ``None`` for an unknown selector.
        """
        decoded = self.decode_error(data)
        return None if decoded is None else (decoded.name, decoded.args)

    def decode_error(self, data: str, *, depth: int = 0) -> DecodedError | None:
        """Decode revert data into the error's name, its raw arguments, and how a person reads it.

        ``text`` shows enum arguments by name, roles by name, times as ISO 8601 and other integers
        with separators (:func:`dfmi_py.display.abi_value`); an argument that is itself revert
        data (a failed delivery's reason) is decoded in turn.
        """
        raw = HexBytes(HexStr(data))
        spec = self._errors.get(bytes(raw[:4]))
        if spec is None:
            return None
        values = abi_decode([i.abi_type for i in spec.inputs], bytes(raw[4:]))
        args = {i.name: _plain(v) for i, v in zip(spec.inputs, values, strict=True)}
        shown = {i.name: self._show(spec, i, value, depth) for i, value in zip(spec.inputs, args.values(), strict=True)}
        return DecodedError(spec.name, args, call_text(spec.name, shown))

    def _show(self, spec: _ErrorSpec, item: _ErrorInput, value: Any, depth: int) -> str:
        if item.abi_type.rstrip("[]") == "bytes" and depth < 2:
            # Revert data carried by an error (a failed delivery's reason): decoded when known.
            values = value if item.abi_type.endswith("]") else [value]
            nested = [self._nested(v, depth) for v in values]
            return f"[{', '.join(nested)}]" if item.abi_type.endswith("]") else nested[0]
        from dfmi_py.api.enums import solidity_enum  # the API's modules import this one

        kind = solidity_enum(item.internal_type, spec.interfaces) if item.internal_type.startswith("enum ") else None
        return abi_value(item.name, item.abi_type, value, kind)

    def _nested(self, value: str | bytes, depth: int) -> str:
        data = value if isinstance(value, str) else "0x" + value.hex()
        try:
            decoded = self.decode_error(data, depth=depth + 1) if len(data) >= 10 else None
        except DecodingError:  # cut or foreign data: shown as it is
            decoded = None
        return data if decoded is None else decoded.text


@dataclass(frozen=True)
class DecodedError:
    """A custom error decoded from revert data.

    Attributes:
        name: The error's name, e.g. ``"NettingInvalidState"``.
        args: Its arguments by name, raw (what programs compare).
        text: How a person reads it: ``NettingInvalidState(roundId=3, expected=VERIFIED, actual=COLLECTING)``.
    """

    name: str
    args: dict[str, Any]
    text: str


@dataclass(frozen=True)
class _ErrorInput:
    name: str
    abi_type: str
    internal_type: str


@dataclass(frozen=True)
class _ErrorSpec:
    name: str
    inputs: tuple[_ErrorInput, ...]
    #: The interfaces (``contracts/interfaces/``) whose ABI has the error: they settle which enum
    #: an ambiguous enum name means.
    interfaces: frozenset[str]


def _error_table(artifacts: Artifacts) -> dict[bytes, _ErrorSpec]:
    declared_by: dict[bytes, set[str]] = {}
    items: dict[bytes, dict[str, Any]] = {}
    for artifact in artifacts.by_name.values():
        for item in artifact.abi:
            if item.get("type") != "error":
                continue
            selector = function_abi_to_4byte_selector(cast(Any, item))
            items.setdefault(selector, item)
            if artifact.source.startswith("contracts/interfaces/"):
                declared_by.setdefault(selector, set()).add(artifact.name)
    return {
        selector: _ErrorSpec(
            item["name"],
            tuple(
                _ErrorInput(i["name"] or f"arg{n}", i["type"], i.get("internalType", i["type"]))
                for n, i in enumerate(item["inputs"])
            ),
            frozenset(declared_by.get(selector, ())),
        )
        for selector, item in items.items()
    }


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def checksum(address: str) -> ChecksumAddress:
    """Checksum ``address`` or raise :class:`InputError` naming it.

    An address in mixed case carries an EIP-55 checksum, and a wrong one is refused: it is a typo
    that would otherwise send money to an account nobody holds. All-lower and all-upper case
    addresses carry none and are accepted.
    """
    try:
        result = to_checksum_address(address)
    except (ValueError, TypeError):
        raise InputError(f"{address!r} is not an Ethereum address") from None
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and address != result:
        raise InputError(f"{address!r} has a wrong EIP-55 checksum (a typo?): did you mean {result}?")
    return result
