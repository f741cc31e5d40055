"""A connection to one chain, with the compiled artifacts to build contracts and decode reverts.

Every transaction the toolkit sends goes through :class:`Chain`, written to work on any JSON-RPC
node, not only on Anvil:

- proof-of-authority chains (Clique, QBFT, IBFT) put more than 32 bytes in a block's
  ``extraData``: web3's ``ExtraDataToPOAMiddleware`` is injected on every connection;
- nothing asks for the pending block (some nodes refuse that tag): nonces come from the
  ``"latest"`` count plus a local count of this connection's transactions in flight, and fees are
  set explicitly (EIP-1559 from the latest block's base fee, or a gas price before London);
- a receipt query that fails while the node imports the block is read as "not yet";
- a node whose gas estimate does not fail on a revert cannot make us send a failing transaction:
  every transaction is first run with ``eth_call`` (a revert raises the decoded custom error and
  nothing is sent); a transaction mined with status 0 is replayed to recover its custom error.

Adversary assumptions: the node is trusted to report the chain truthfully (it is the operator's);
it may be slow, drop transactions, or fail requests, and none of that may make us sign two
transactions with one nonce unknowingly or report a refusal as a success.
"""

from __future__ import annotations

import logging
import threading
import time
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
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import BlockIdentifier, Nonce, TxParams, TxReceipt, Wei

from dfmi_py.addresses import checksum as checksum  # re-exported: the API imports it from here
from dfmi_py.build import Artifacts, compile_contracts
from dfmi_py.display import abi_value, call_text
from dfmi_py.errors import (
    REVERT_CLASSES,
    ChainConnectionError,
    ContractRevertError,
    InputError,
    NodeRequestError,
    TransactionError,
)

logger = logging.getLogger(__name__)

#: First pause between receipt polls; it grows by half each poll up to
#: :data:`RECEIPT_POLL_MAX_SECONDS` (a devnet answers at once, a public chain in seconds).
RECEIPT_POLL_SECONDS = 0.005
RECEIPT_POLL_MAX_SECONDS = 1.0
#: Seconds :meth:`Chain.transact` waits for a receipt.
RECEIPT_TIMEOUT_SECONDS = 120.0
#: Head-room over the node's gas estimate, in percent. An estimate run in the same second as an
#: earlier write of block.timestamp misses the cost of rewriting that slot when the transaction is
#: mined a second later (seen on Anvil with the default fund's last-draw time).
GAS_HEADROOM_PERCENT = 20
#: Priority fee (wei) when the node does not answer ``eth_maxPriorityFeePerGas`` (not every node
#: has it: it is outside the execution API specification).
FALLBACK_PRIORITY_FEE = 10**9
#: Name of the proof-of-authority middleware in web3's onion.
POA_MIDDLEWARE = "proof_of_authority"

#: What web3 raises for a revert in ``eth_call`` and ``eth_estimateGas``.
REVERTS = (ContractCustomError, ContractLogicError, ContractPanicError)


@dataclass(frozen=True)
class Fees:
    """What a transaction offers to pay per unit of gas.

    On a chain with EIP-1559 (London and later) ``max_fee_per_gas`` and
    ``max_priority_fee_per_gas`` are set and ``gas_price`` is ``None``; before London only
    ``gas_price`` is set.

    Attributes:
        base_fee: The latest block's base fee (``None`` before London).
        max_fee_per_gas: ``maxFeePerGas`` (wei).
        max_priority_fee_per_gas: ``maxPriorityFeePerGas`` (wei).
        gas_price: ``gasPrice`` (wei) of a legacy transaction.
    """

    base_fee: int | None
    max_fee_per_gas: int | None
    max_priority_fee_per_gas: int | None
    gas_price: int | None = None

    @property
    def dynamic(self) -> bool:
        """Whether these are EIP-1559 fees."""
        return self.max_fee_per_gas is not None

    @property
    def ceiling(self) -> int:
        """The most one unit of gas may cost (``maxFeePerGas`` or ``gasPrice``)."""
        return int(self.max_fee_per_gas if self.max_fee_per_gas is not None else self.gas_price or 0)

    def params(self) -> TxParams:
        """The transaction fields: ``maxFeePerGas`` and ``maxPriorityFeePerGas``, or ``gasPrice``."""
        if self.max_fee_per_gas is not None:
            return {
                "maxFeePerGas": self.max_fee_per_gas,  # type: ignore[typeddict-item]
                "maxPriorityFeePerGas": self.max_priority_fee_per_gas or 0,  # type: ignore[typeddict-item]
            }
        return {"gasPrice": self.gas_price or 0}  # type: ignore[typeddict-item]

    def capped(self, cap: int) -> Fees:
        """These fees with no field above ``cap`` (wei)."""
        if self.max_fee_per_gas is not None:
            top = min(self.max_fee_per_gas, cap)
            return Fees(self.base_fee, top, min(self.max_priority_fee_per_gas or 0, top))
        return Fees(self.base_fee, None, None, min(self.gas_price or 0, cap))

    def bumped(self, percent: int, cap: int) -> Fees:
        """Every fee raised by ``percent`` (rounded up), none above ``cap``."""

        def up(value: int | None) -> int | None:
            return None if value is None else -(-value * (100 + percent) // 100)

        raised = Fees(self.base_fee, up(self.max_fee_per_gas), up(self.max_priority_fee_per_gas), up(self.gas_price))
        return raised.capped(cap)


class Chain:
    """A web3 connection plus the project's artifacts.

    The connection gets web3's proof-of-authority middleware (layer 0) when it lacks it, so
    blocks of a PoA chain read like any other.

    Args:
        w3: A connected Web3 instance.
        artifacts: Compiled contracts; compiled (or loaded from cache) when ``None``.
    """

    def __init__(self, w3: Web3, artifacts: Artifacts | None = None) -> None:
        self.w3 = w3
        if POA_MIDDLEWARE not in w3.middleware_onion:
            w3.middleware_onion.inject(ExtraDataToPOAMiddleware, name=POA_MIDDLEWARE, layer=0)
        self.artifacts = artifacts if artifacts is not None else compile_contracts()
        self._errors = _error_table(self.artifacts)
        self._functions: dict[bytes, str] | None = None
        self._factories: dict[str, type[Contract]] = {}
        self._chain_id: int | None = None
        #: Per address: the next nonce and how many reserved nonces are still in flight.
        self._nonces: dict[str, tuple[int, int]] = {}
        self._nonce_lock = threading.Lock()
        #: The receipt of the last transaction this connection sent (for gas and logs).
        self.last_receipt: TxReceipt | None = None

    @classmethod
    def connect(
        cls, rpc_url: str, *, timeout: float = 30.0, retries: bool = True, artifacts: Artifacts | None = None
    ) -> Chain:
        """Connect to a JSON-RPC endpoint and check that it answers.

        Args:
            rpc_url: ``http://`` or ``https://`` URL.
            timeout: Seconds a request may take.
            retries: Keep web3's own retries of a failed request (about 2 s). The services turn
                them off: their sender and runner retry with their own backoff, counted in metrics.

        Raises:
            ChainConnectionError: when the URL is malformed or nothing answers there.
        """
        if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
            raise ChainConnectionError(f"RPC URL must start with http:// or https://, got {rpc_url!r}")
        # The chain id is asked before every call and estimate (web3's validation): once is enough.
        provider = Web3.HTTPProvider(
            rpc_url,
            request_kwargs={"timeout": timeout},
            cache_allowed_requests=True,
            cacheable_requests={"eth_chainId"},
            **({} if retries else {"exception_retry_configuration": None}),
        )
        w3 = Web3(provider)
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
        factory = self._factories.get(name)
        if factory is None:  # building the class parses the ABI: once per contract name
            factory = self._factories[name] = self.w3.eth.contract(abi=self.artifacts[name].abi)
        return factory(address=checksum(address))

    def _refusal(self, exc: Exception, sender: str, tx: TxParams) -> str:
        """What to tell the sender when the node refused its transaction ``tx``."""
        if "insufficient funds" in str(exc).lower():
            balance = self.w3.eth.get_balance(cast(ChecksumAddress, sender))
            cost = int(tx["gas"]) * int(cast(int, tx.get("maxFeePerGas", tx.get("gasPrice", 0)))) + int(
                tx.get("value", 0)
            )
            return (
                f"{sender} has not enough ether to pay for the gas: it holds {balance} wei and the "
                f"transaction may cost up to {cost} wei; send it ether first"
            )
        return f"the node refused the transaction: {exc}"

    def require_contract(self, address: str, what: str = "address") -> ChecksumAddress:
        """``address`` checksummed, refused when no contract is deployed there.

        Raises:
            InputError: not an address, a wrong checksum, or ``eth_getCode`` is empty there.
        """
        checked = checksum(address)
        if len(self.w3.eth.get_code(checked)) == 0:
            raise InputError(
                f"{what} {checked} holds no contract on chain {self.chain_id} (eth_getCode is empty): "
                "check the address and the chain"
            )
        return checked

    def deploy(self, name: str, args: Sequence[Any], sender: LocalAccount) -> tuple[Contract, TxReceipt]:
        """Deploy the compiled contract ``name`` with constructor ``args``.

        Returns:
            The contract at its new address, and the deployment receipt.
        """
        require_signer(sender, f"deploy {name}")
        artifact = self.artifacts[name]
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        action = f"deploy {name}"
        tx: TxParams = {"from": sender.address, "data": factory.constructor(*args).data_in_transaction, "value": Wei(0)}
        gas = self._preflight(tx, action)
        receipt = self._send(tx, gas, sender, action)
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionError(f"{action}: the receipt has no contract address")
        return self.contract(name, address), receipt

    # ------------------------------------------------------------------ transactions

    def transact(self, call: ContractFunction, sender: LocalAccount, action: str = "") -> TxReceipt:
        """Check, sign, send and wait for a contract call.

        The call is first run with ``eth_call`` and estimated (:meth:`preflight`): a call the
        contract would reject raises before anything is sent. A transaction mined with status 0
        all the same (the state moved in between) raises its custom error, recovered by replaying
        it (:meth:`revert_error`).

        Raises:
            ContractRevertError: the contract rejects the call; carries the custom error.
            TransactionError: the transaction failed for another reason.
        """
        action = action or call.fn_name
        require_signer(sender, action)
        tx = call_params(call, sender.address)
        gas = self._preflight(tx, action)
        return self._send(tx, gas, sender, action)

    def call(self, call: ContractFunction, action: str = "") -> Any:
        """Run a view call, decoding a revert into :class:`ContractRevertError`."""
        try:
            return call.call()
        except REVERTS as exc:
            raise self.decode_revert(exc, action or call.fn_name) from None
        except BadFunctionCallOutput:
            self.require_contract(call.address, f"{action or call.fn_name}:")
            raise NodeRequestError(
                f"{action or call.fn_name}: the answer of {call.address} cannot be decoded: "
                "is it the contract this call is written for?"
            ) from None

    def preflight(self, call: ContractFunction, sender: str, action: str = "") -> int:
        """Run ``call`` from ``sender`` with ``eth_call`` on the latest block, then estimate its gas.

        The ``eth_call`` catches a revert even on a node whose ``eth_estimateGas`` does not fail
        on one.

        Returns:
            The node's gas estimate, without head-room (see :func:`with_headroom`).

        Raises:
            ContractRevertError: the contract rejects the call (nothing was sent).
            TransactionError: the call fails without a custom error.
        """
        return self._preflight(call_params(call, sender), action or call.fn_name)

    def _preflight(self, tx: TxParams, action: str) -> int:
        try:
            self.w3.eth.call(tx, "latest")
            return int(self.w3.eth.estimate_gas(tx))
        except REVERTS as exc:
            raise self.decode_revert(exc, action) from None

    def fees(self, priority_fee: int | None = None) -> Fees:
        """The fees of a transaction sent now, read from the latest block.

        EIP-1559 chains: ``maxFeePerGas`` is twice the latest base fee plus the priority fee
        (room for six full blocks in a row before the transaction is priced out); the priority
        fee is ``priority_fee`` when given, else the node's ``eth_maxPriorityFeePerGas``, else
        :data:`FALLBACK_PRIORITY_FEE`. Chains before London: the node's ``eth_gasPrice``.
        """
        block = self.w3.eth.get_block("latest")
        base = block.get("baseFeePerGas")
        if base is None:
            return Fees(None, None, None, int(self.w3.eth.gas_price))
        if priority_fee is None:
            try:
                priority_fee = int(self.w3.eth._max_priority_fee())
            except Web3RPCError as exc:
                logger.debug("eth_maxPriorityFeePerGas unavailable (%s): %s wei", exc, FALLBACK_PRIORITY_FEE)
                priority_fee = FALLBACK_PRIORITY_FEE
        return Fees(int(base), 2 * int(base) + priority_fee, priority_fee)

    # ------------------------------------------------------------------ nonces

    def next_nonce(self, address: str, count: int = 1) -> int:
        """Reserve ``count`` consecutive nonces for ``address``; the first.

        The first is the larger of the node's ``"latest"`` transaction count and the next nonce
        after this connection's transactions still in flight. Hand every reserved nonce back
        with :meth:`release_nonces` once its transaction is mined or abandoned: with nothing in
        flight, the next reservation reads the node's count alone (it may have gone down: a
        reorganisation, a devnet snapshot reverted).
        """
        key = to_checksum_address(address)
        latest = int(self.w3.eth.get_transaction_count(key, "latest"))
        with self._nonce_lock:
            local, in_flight = self._nonces.get(key, (0, 0))
            nonce = max(latest, local)
            self._nonces[key] = (nonce + count, in_flight + count)
        return nonce

    def expected_nonce(self, address: str) -> int:
        """The nonce the next transaction from ``address`` takes (nothing reserved)."""
        key = to_checksum_address(address)
        latest = int(self.w3.eth.get_transaction_count(key, "latest"))
        with self._nonce_lock:
            return max(latest, self._nonces.get(key, (0, 0))[0])

    def release_nonces(self, address: str, count: int = 1, *, unused_from: int | None = None) -> None:
        """``count`` nonces reserved with :meth:`next_nonce` are done (mined, or abandoned).

        Args:
            address: The sender.
            count: How many of its reserved nonces are done.
            unused_from: Nothing was sent with this nonce and the reserved ones after it: the next
                reservation starts here again (no gap is left).
        """
        key = to_checksum_address(address)
        with self._nonce_lock:
            local, in_flight = self._nonces.get(key, (0, 0))
            if unused_from is not None:
                local = min(local, unused_from)
            if in_flight <= count:
                self._nonces.pop(key, None)
            else:
                self._nonces[key] = (local, in_flight - count)

    def forget_nonce(self, address: str) -> None:
        """Drop what this connection knows of ``address``'s nonces: the next one is read from the node.

        After a refused send or a fault, the node's count is the truth.
        """
        with self._nonce_lock:
            self._nonces.pop(to_checksum_address(address), None)

    # ------------------------------------------------------------------ receipts

    def receipt(self, tx_hash: bytes | str) -> TxReceipt | None:
        """The receipt of ``tx_hash``, or ``None`` while there is none.

        A JSON-RPC error counts as "not yet": some nodes answer with one while they import the
        block that holds the transaction. Transport errors (connection refused, timeouts, HTTP
        5xx) propagate.
        """
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except Web3RPCError as exc:
            logger.debug("receipt of %s not available yet: %s", HexBytes(tx_hash).to_0x_hex(), exc)
            return None

    def wait_receipt(self, tx_hash: bytes | str, timeout: float = RECEIPT_TIMEOUT_SECONDS) -> TxReceipt:
        """Poll :meth:`receipt` until there is one.

        Raises:
            TransactionError: no receipt within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        pause = RECEIPT_POLL_SECONDS
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise TransactionError(f"transaction {HexBytes(tx_hash).to_0x_hex()}: no receipt after {timeout:g} s")
            time.sleep(pause)
            pause = min(pause * 1.5, RECEIPT_POLL_MAX_SECONDS)

    def revert_error(self, receipt: TxReceipt, action: str = "") -> ContractRevertError | TransactionError:
        """Why a transaction mined with status 0 failed.

        The transaction is replayed with ``eth_call`` (same sender, data, value and gas) on the
        state before its block, then on the state after it; the first custom error found is
        returned, decoded. Without one, a :class:`TransactionError` that says what is known: the
        function and the contract called, the reason the replay gave (a ``require`` message, a
        panic, another contract's error, none at all) and the gas used against the limit (all of
        it used: the transaction ran out of gas).
        """
        tx_hash = HexBytes(receipt["transactionHash"]).to_0x_hex()
        tx = self.w3.eth.get_transaction(receipt["transactionHash"])
        replay: TxParams = {"from": tx["from"], "data": tx["input"], "value": tx["value"], "gas": tx["gas"]}
        if tx.get("to"):
            replay["to"] = tx["to"]
        block = int(receipt["blockNumber"])
        seen = "reverted without a reason (out of gas? a token that reverts silently?)"
        for at in (max(0, block - 1), block):
            error = self._replay(replay, at, action)
            if isinstance(error, ContractRevertError):
                return error
            if error is not None:
                seen = str(error).removeprefix(f"{action}: ")
        used, limit = int(receipt["gasUsed"]), int(tx["gas"])
        gas = f"gas used {used:,} of a {limit:,} limit" + (": it ran out of gas" if used >= limit else "")
        target = f"{self.function_of(tx['input'])} on {tx['to']}" if tx.get("to") else "a deployment"
        where = f"{action}: " if action else ""
        return TransactionError(f"{where}transaction {tx_hash} ({target}) {seen} on-chain; {gas}")

    def function_of(self, data: object) -> str:
        """The project's function that call data ``data`` calls (``name(types)``), or its selector."""
        raw = bytes(HexBytes(data)) if isinstance(data, (bytes, str)) else b""
        if len(raw) < 4:
            return "a plain transfer"
        if self._functions is None:
            self._functions = {
                function_abi_to_4byte_selector(
                    cast(Any, item)
                ): f"{item['name']}({','.join(_abi_types(item['inputs']))})"
                for artifact in self.artifacts.by_name.values()
                for item in artifact.abi
                if item.get("type") == "function"
            }
        return self._functions.get(raw[:4], f"function 0x{raw[:4].hex()}")

    def _replay(self, tx: TxParams, at: BlockIdentifier, action: str) -> ContractRevertError | TransactionError | None:
        try:
            self.w3.eth.call(tx, at)
        except REVERTS as exc:
            return self.decode_revert(exc, action)
        except Web3RPCError as exc:  # the state is pruned, or the node cannot replay
            logger.debug("replay at block %s failed: %s", at, exc)
        return None

    def _send(self, tx: TxParams, gas: int, sender: LocalAccount, action: str) -> TxReceipt:
        nonce = self.next_nonce(sender.address)
        try:
            fees = self.fees()
            full: TxParams = {
                **tx,
                **fees.params(),
                "gas": with_headroom(gas),
                "nonce": Nonce(nonce),
                "chainId": self.chain_id,
            }
            signed = sender.sign_transaction(cast(dict[str, Any], full))
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3RPCError, ValueError) as exc:  # the node refused it (nonce, funds, fees...)
                self.forget_nonce(sender.address)
                raise TransactionError(f"{action}: {self._refusal(exc, sender.address, full)}") from None
            receipt = self.wait_receipt(tx_hash)
        finally:
            self.release_nonces(sender.address)
        if receipt["status"] != 1:
            raise self.revert_error(receipt, action)
        logger.debug("%s: mined in block %s, gas %s", action, receipt["blockNumber"], receipt["gasUsed"])
        self.last_receipt = receipt
        return receipt

    # ------------------------------------------------------------------ reverts

    def decode_revert(self, exc: Exception, action: str = "") -> ContractRevertError | TransactionError:
        """Turn a web3 revert exception into a :class:`ContractRevertError` with the error's name.

        Revert data that is not one of the project's custom errors still says what is known: a
        ``require`` message (``Error(string)``), a panic code with its meaning (``Panic(uint256)``),
        the selector of another contract's error, or that the call reverted without any data.
        """
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            try:
                decoded = self.decode_error(data)
            except DecodingError:  # a known selector with arguments that do not decode
                decoded = None
            if decoded is not None:
                error_class = REVERT_CLASSES.get(decoded.name, ContractRevertError)
                return error_class(decoded.name, decoded.args, action, shown=decoded.text)
        where = f"{action}: " if action else ""
        return TransactionError(f"{where}reverted {revert_reason(data)}")

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


#: The error table of the artifacts last connected with (read-only once built): every connection of a
#: process to the same build shares it.
_LAST_TABLE: list[tuple[Artifacts, dict[bytes, _ErrorSpec]]] = []


def _error_table(artifacts: Artifacts) -> dict[bytes, _ErrorSpec]:
    kept = _LAST_TABLE[0] if _LAST_TABLE else None
    if kept is None or kept[0] is not artifacts:
        kept = (artifacts, _build_error_table(artifacts))
        _LAST_TABLE[:] = [kept]
    return kept[1]


def _build_error_table(artifacts: Artifacts) -> dict[bytes, _ErrorSpec]:
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


def _abi_types(inputs: Sequence[dict[str, Any]]) -> list[str]:
    """The canonical types of ABI inputs (tuples spelt out)."""
    return [
        "(" + ",".join(_abi_types(i["components"])) + ")" + i["type"].removeprefix("tuple")
        if i["type"].startswith("tuple")
        else i["type"]
        for i in inputs
    ]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def require_signer(sender: object, action: str = "") -> None:
    """Refuse a signer that is not a local account (``None``, an address, a key as text).

    Raises:
        InputError: naming the action and what was given.
    """
    if not isinstance(sender, LocalAccount):
        where = f"{action}: " if action else ""
        shown = "None" if sender is None else f"a {type(sender).__name__}"
        raise InputError(
            f"{where}the signer must be a local account "
            f"(dfmi_py.chain.dev_account(N) or load_account(VAR)), got {shown}"
        )


def with_headroom(gas: int, percent: int = GAS_HEADROOM_PERCENT) -> int:
    """``gas`` plus ``percent`` per cent (the gas limit sent for an estimate)."""
    return gas * (100 + percent) // 100


def call_params(call: ContractFunction, sender: str) -> TxParams:
    """The ``eth_call`` / ``eth_estimateGas`` fields of ``call`` sent by ``sender`` (no gas, fees or nonce)."""
    return {
        "from": to_checksum_address(sender),
        "to": to_checksum_address(call.address),
        "data": call._encode_transaction_data(),
        "value": Wei(0),
    }


#: What the Solidity compiler's ``Panic(uint256)`` codes mean.
PANIC_CODES = {
    0x00: "a generic compiler panic",
    0x01: "an assert failed",
    0x11: "an arithmetic overflow or underflow",
    0x12: "a division or modulo by zero",
    0x21: "a value out of an enum's range",
    0x22: "a corrupt storage byte array",
    0x31: "pop() on an empty array",
    0x32: "an array index out of bounds",
    0x41: "too much memory allocated",
    0x51: "a call to an uninitialised function",
}
_ERROR_STRING = bytes.fromhex("08c379a0")  # Error(string)
_PANIC = bytes.fromhex("4e487b71")  # Panic(uint256)


def revert_reason(data: object) -> str:
    """What revert ``data`` that is not one of the project's custom errors says, as a phrase
    following "reverted": a ``require`` message, a panic code and its meaning, another contract's
    error selector, or that there was no reason at all."""
    raw = b""
    if isinstance(data, str) and data.startswith("0x"):
        try:
            raw = bytes(HexBytes(HexStr(data)))
        except ValueError:
            raw = b""
    elif isinstance(data, bytes):
        raw = data
    if not raw:
        return "without a reason (out of gas? a token that reverts silently?)"
    selector, body = raw[:4], raw[4:]
    try:
        if selector == _ERROR_STRING:
            (message,) = abi_decode(["string"], body)
            return f"with the message {' '.join(str(message).split())!r} (a require in a contract outside the project?)"
        if selector == _PANIC:
            (code,) = abi_decode(["uint256"], body)
            meaning = PANIC_CODES.get(int(code), "an unknown panic code")
            return f"with Panic(0x{int(code):02x}): {meaning}"
    except DecodingError:
        pass
    return f"with an error unknown to the project (selector 0x{selector.hex()}, from another contract?)"
