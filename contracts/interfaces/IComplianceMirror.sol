// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccountStatus, IComplianceRegistry, IComplianceSubscriber} from "./IComplianceRegistry.sol";

/// @title IComplianceMirror
/// @notice A contract that enforces the shared compliance registry from its own copy of account
///         statuses, kept exact by the registry's pushes (see {IComplianceRegistry}).
/// @dev The copy can only be written with the registry's value, by the registry or by a
///      permissionless pull that reads the registry, and only while this contract is a subscriber.
///      So a copy never says `Active` unless the registry does (fail closed).
interface IComplianceMirror is IComplianceSubscriber {
    /// @notice This contract's copy of `account`'s status is now `status`.
    event ComplianceStatusMirrored(address indexed account, AccountStatus status);

    /// @notice Only the registry pushes status changes; `caller` is not it.
    error ComplianceMirrorUnauthorized(address caller);

    /// @notice This contract is not (yet) a subscriber of the registry, so its copy cannot be
    ///         trusted to stay exact: ask the registry admin to `addSubscriber` it.
    error ComplianceMirrorNotSubscribed(address registry);

    /// @notice The registry this contract enforces.
    function registry() external view returns (IComplianceRegistry);

    /// @notice This contract's copy of `account`'s status (equals the registry's once synced).
    function mirroredStatusOf(address account) external view returns (AccountStatus);

    /// @notice Copies `account`'s status from the registry. Anyone may call it, e.g. for accounts
    ///         onboarded before this contract subscribed.
    function syncCompliance(address account) external;
}
