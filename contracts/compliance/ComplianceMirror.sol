// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccountStatus, IComplianceRegistry, IComplianceSubscriber} from "../interfaces/IComplianceRegistry.sol";
import {IComplianceMirror} from "../interfaces/IComplianceMirror.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";

/// @title ComplianceMirror
/// @notice Base for contracts that check the shared registry on every transfer. Reading a local
///         copy costs one storage read per account instead of an external call to the registry
///         plus one read per account, which keeps a token transfer below USDC's cost.
/// @dev Invariant: `_mirrored[a] == Active` implies `registry.statusOf(a) == Active`.
///      Writes come only from the registry's push or from {syncCompliance}, which copies the
///      registry's value and refuses to run unless this contract is subscribed; subscriptions are
///      permanent, so every later change is pushed.
abstract contract ComplianceMirror is IComplianceMirror, ERC165 {
    /// @inheritdoc IComplianceMirror
    IComplianceRegistry public immutable registry;

    mapping(address account => AccountStatus) private _mirrored;

    constructor(IComplianceRegistry registry_) {
        registry = registry_;
    }

    /// @inheritdoc IComplianceSubscriber
    function complianceStatusChanged(address account, AccountStatus status) external {
        if (msg.sender != address(registry)) revert ComplianceMirrorUnauthorized(msg.sender);
        _mirror(account, status);
    }

    /// @inheritdoc IComplianceMirror
    function syncCompliance(address account) external {
        if (!registry.isSubscriber(address(this))) revert ComplianceMirrorNotSubscribed(address(registry));
        _mirror(account, registry.statusOf(account));
    }

    /// @inheritdoc ERC165
    /// @dev Declares {IComplianceSubscriber}, which the registry checks before subscribing.
    function supportsInterface(bytes4 interfaceId) public view virtual override returns (bool) {
        return interfaceId == type(IComplianceSubscriber).interfaceId
            || interfaceId == type(IComplianceMirror).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @inheritdoc IComplianceMirror
    function mirroredStatusOf(address account) external view returns (AccountStatus) {
        return _mirrored[account];
    }

    /// @dev Reverts with the registry's `ComplianceAccountNotActive` unless `account` is active.
    function _requireActive(address account) internal view {
        AccountStatus status = _mirrored[account];
        if (status != AccountStatus.Active) revert IComplianceRegistry.ComplianceAccountNotActive(account, status);
    }

    function _mirror(address account, AccountStatus status) private {
        _mirrored[account] = status;
        emit ComplianceStatusMirrored(account, status);
    }
}
