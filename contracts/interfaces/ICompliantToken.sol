// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

/// @title ICompliantToken
/// @notice What every token of the market shares (the cash token, the securities): ERC-20 with
///         EIP-2612 permit, movable only between accounts the shared compliance registry holds
///         `Active`, and paused by a pauser.
/// @dev Every transfer, mint, burn, approval, permit and allowance spend needs every account
///      involved (sender, receiver, owner, spender) to be `Active`; a pause stops all of them.
///      Rejections are the registry's `ComplianceAccountNotActive(account, status)` and OZ
///      Pausable's `EnforcedPause()`.
interface ICompliantToken is IERC20Metadata, IERC20Permit {
    /// @notice Role that pauses and unpauses all movement.
    function PAUSER_ROLE() external view returns (bytes32);

    /// @notice Stops every transfer, mint, burn, approval and permit. Pauser only.
    function pause() external;

    /// @notice Resumes. Pauser only. Records the time in {lastUnpausedAt}.
    function unpause() external;

    /// @notice When the token was last unpaused (zero: never). Contracts whose deadlines ask
    ///         someone to pay (the derivative engine's cure periods) give them a full period of
    ///         movement after it: nobody could pay while the token was paused.
    function lastUnpausedAt() external view returns (uint40);
}
