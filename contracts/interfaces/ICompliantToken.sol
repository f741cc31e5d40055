// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @title ICompliantToken
/// @notice What every token of the market shares (the cash token, the securities): ERC-20 with
///         EIP-2612 permit, movable only between accounts the shared compliance registry holds
///         `Active`, and paused by a pauser.
/// @dev Every transfer, mint, burn, approval, permit and allowance spend needs every account
///      involved (sender, receiver, owner, spender) to be `Active`; a pause stops all of them.
///      Rejections are the registry's `ComplianceAccountNotActive(account, status)` and OZ
///      Pausable's `EnforcedPause()`.
///
///      EIP-712 (what a client needs to sign an EIP-2612 {permit} without this project's toolkit):
///      - Domain: name the token's {name} (as given at deployment), version "1", `chainId` the
///        chain's id, `verifyingContract` this token; no salt. {eip712Domain} (EIP-5267) returns
///        them.
///      - Type, exactly as hashed (EIP-2612's; it references no other type):
///        `Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)`
///        `nonce` is the owner's {nonces}; `deadline` the last second (block timestamp) the
///        permit is accepted. No `bytes` or `string` field: every field is one 32-byte word.
///      - Digest: `keccak256("\x19\x01" || DOMAIN_SEPARATOR() || hashStruct(permit))`.
///      - Signature: the owner's key signs the digest; {permit} takes it split, `v` (27 or 28),
///        `r`, `s` (`s` in the lower half of the curve order). There is no ERC-1271 path: an
///        owner that is a contract calls {approve} itself.
interface ICompliantToken is IERC20Metadata, IERC20Permit, IERC5267 {
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
