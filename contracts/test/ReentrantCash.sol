// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantCash
/// @notice Test fixture, never deployed by the suite: a malicious cash token that, whenever it
///         moves tokens between two accounts (transfer or transferFrom), first calls back into a
///         target (typically the engine that moves it) with calldata the test chose, to try to
///         pay something twice.
/// @dev Armed with {arm}. With `bubble` set, a failed callback makes the transfer revert with the
///      callback's revert data (the engine then sees, and re-raises, e.g.
///      `ReentrancyGuardReentrantCall`); otherwise the failure is swallowed and recorded in
///      {lastCallbackSucceeded}/{lastCallbackData}, and the transfer goes on as if nothing
///      happened. One callback per armed transfer; the callback's own transfers do not recurse.
contract ReentrantCash is ERC20 {
    /// @notice The callback into `target` ran; `success` says whether it returned normally.
    event CallbackAttempted(address indexed target, bool success, bytes returnData);

    /// @notice Where the callback goes, and with what calldata; zero: disarmed.
    address public target;
    bytes public callbackData;
    /// @notice Whether a failed callback reverts the transfer with its revert data.
    bool public bubble;

    /// @notice Callbacks made so far.
    uint256 public callbackCount;
    /// @notice Outcome and return (or revert) data of the last callback.
    bool public lastCallbackSucceeded;
    bytes public lastCallbackData;

    bool private _inCallback;

    /// @notice Never paused (the engine reads this to tell a stopped token from a payer that
    ///         cannot pay), never unpaused.
    bool public constant paused = false;
    uint40 public constant lastUnpausedAt = 0;

    constructor() ERC20("Reentrant Cash", "RCASH") {}

    /// @notice Anyone may mint: this token is worth nothing outside a test.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Calls `target_` with `data` on every later token movement between two accounts.
    function arm(address target_, bytes calldata data, bool bubble_) external {
        target = target_;
        callbackData = data;
        bubble = bubble_;
    }

    /// @notice Stops the callbacks.
    function disarm() external {
        target = address(0);
    }

    /// @notice Calls `to` with `data` as this contract (so it can hold margin in an engine).
    function execute(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory result) = to.call(data);
        if (!ok) _revertWith(result);
        return result;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (target != address(0) && from != address(0) && to != address(0) && !_inCallback) {
            _inCallback = true;
            (bool ok, bytes memory result) = target.call(callbackData);
            _inCallback = false;
            ++callbackCount;
            lastCallbackSucceeded = ok;
            lastCallbackData = result;
            emit CallbackAttempted(target, ok, result);
            if (!ok && bubble) _revertWith(result);
        }
        super._update(from, to, value);
    }

    function _revertWith(bytes memory reason) private pure {
        assembly ("memory-safe") {
            revert(add(reason, 0x20), mload(reason))
        }
    }
}
