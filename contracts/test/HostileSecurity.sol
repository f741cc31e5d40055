// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title HostileSecurity
/// @notice Test fixture, never deployed by the suite: a security token made by the parties of a
///         DvP to hold a netting round hostage. Its views (`balanceOf`, `allowance`) always look
///         like a compliant token's; its movements between two accounts (`transfer`,
///         `transferFrom`) behave as its {mode} says: move normally, refuse with an error, burn
///         every unit of gas they are given, revert with a revert blob of {load} bytes, or (an
///         honest but expensive token) burn {load} gas and then move normally. Minting is never
///         affected, and anyone may mint or switch the mode.
contract HostileSecurity is ERC20 {
    /// @notice How a movement between two accounts behaves.
    enum Mode {
        Comply,
        Refuse,
        BurnGas,
        RevertBlob,
        Heavy
    }

    /// @notice The switch is on: the movement of `value` from `from` to `to` is refused.
    error HostileSecurityRefused(address from, address to, uint256 value);

    /// @notice First word of the revert blob (the rest is zeros).
    bytes32 public constant BLOB_HEAD = keccak256("HostileSecurity.blob");

    Mode public mode;
    /// @notice Bytes of revert data in mode RevertBlob (at least 32); gas burnt before moving in
    ///         mode Heavy.
    uint256 public load;

    constructor() ERC20("Hostile Security", "HOST") {}

    /// @notice Anyone may mint: this token is worth nothing outside a test.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Sets how later movements behave (`load_` counts in modes RevertBlob and Heavy).
    function setMode(Mode mode_, uint256 load_) external {
        mode = mode_;
        load = load_;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            Mode current = mode;
            if (current == Mode.Refuse) revert HostileSecurityRefused(from, to, value);
            if (current == Mode.BurnGas) {
                assembly ("memory-safe") {
                    for {} 1 {} {}
                }
            }
            if (current == Mode.RevertBlob) {
                bytes32 head = BLOB_HEAD;
                uint256 size = load;
                assembly ("memory-safe") {
                    let blob := mload(0x40)
                    mstore(blob, head)
                    // Memory past the free pointer is zero; revert expands it to `size` bytes.
                    revert(blob, size)
                }
            }
            if (current == Mode.Heavy) {
                // Fails here (out of gas, or an underflow) unless it was given more than `load`.
                uint256 until = gasleft() - load;
                while (gasleft() > until) {}
            }
        }
        super._update(from, to, value);
    }
}
