// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {AccountStatus, IComplianceRegistry, IComplianceSubscriber} from "../interfaces/IComplianceRegistry.sol";

/// @title ComplianceRegistry
/// @notice The market's one allowlist. See {IComplianceRegistry}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` grants roles and adds subscribers (hand it to a multisig);
///      `COMPLIANCE_ROLE` changes statuses; `REGULATOR_ROLE` observes.
///
///      Invariants (tested in tests/contracts/test_compliance_registry.py):
///      - every status change is one of None->Active, Active->Frozen, Frozen->Active,
///        Active|Frozen->None, and emits `AccountStatusChanged`;
///      - after any change, every subscriber's copy of the account's status equals `statusOf`.
contract ComplianceRegistry is IComplianceRegistry, AccessControl {
    /// @inheritdoc IComplianceRegistry
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @inheritdoc IComplianceRegistry
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @notice Bound on subscribers, so a status change has a bounded cost.
    uint256 public constant MAX_SUBSCRIBERS = 16;

    mapping(address account => AccountStatus) private _status;
    address[] private _subscribers;
    mapping(address subscriber => bool) private _isSubscriber;

    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(address admin) {
        if (admin == address(0)) revert ComplianceZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ status changes

    /// @inheritdoc IComplianceRegistry
    function onboard(address account) external onlyRole(COMPLIANCE_ROLE) {
        _onboard(account);
    }

    /// @inheritdoc IComplianceRegistry
    function onboardBatch(address[] calldata accounts) external onlyRole(COMPLIANCE_ROLE) {
        for (uint256 i = 0; i < accounts.length; ++i) {
            _onboard(accounts[i]);
        }
    }

    /// @inheritdoc IComplianceRegistry
    function freeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        _transition(account, AccountStatus.Active, AccountStatus.Frozen);
    }

    /// @inheritdoc IComplianceRegistry
    function unfreeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        _transition(account, AccountStatus.Frozen, AccountStatus.Active);
    }

    /// @inheritdoc IComplianceRegistry
    function offboard(address account) external onlyRole(COMPLIANCE_ROLE) {
        AccountStatus previous = _status[account];
        if (previous == AccountStatus.None) revert ComplianceInvalidStatus(account, previous);
        _setStatus(account, previous, AccountStatus.None);
    }

    // ------------------------------------------------------------------ subscribers

    /// @inheritdoc IComplianceRegistry
    function addSubscriber(address subscriber) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (subscriber == address(0)) revert ComplianceZeroAddress();
        if (_isSubscriber[subscriber]) revert ComplianceSubscriberExists(subscriber);
        if (!ERC165Checker.supportsInterface(subscriber, type(IComplianceSubscriber).interfaceId)) {
            revert ComplianceSubscriberUnsupported(subscriber);
        }
        if (_subscribers.length >= MAX_SUBSCRIBERS) revert ComplianceTooManySubscribers(MAX_SUBSCRIBERS);
        _isSubscriber[subscriber] = true;
        _subscribers.push(subscriber);
        emit SubscriberAdded(subscriber);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IComplianceRegistry
    function statusOf(address account) external view returns (AccountStatus) {
        return _status[account];
    }

    /// @inheritdoc IComplianceRegistry
    function isActive(address account) external view returns (bool) {
        return _status[account] == AccountStatus.Active;
    }

    /// @inheritdoc IComplianceRegistry
    function requireActive(address account) external view {
        AccountStatus status = _status[account];
        if (status != AccountStatus.Active) revert ComplianceAccountNotActive(account, status);
    }

    /// @inheritdoc IComplianceRegistry
    function isSubscriber(address subscriber) external view returns (bool) {
        return _isSubscriber[subscriber];
    }

    /// @inheritdoc IComplianceRegistry
    function subscribers() external view returns (address[] memory) {
        return _subscribers;
    }

    // ------------------------------------------------------------------ internals

    function _onboard(address account) private {
        if (account == address(0)) revert ComplianceZeroAddress();
        _transition(account, AccountStatus.None, AccountStatus.Active);
    }

    function _transition(address account, AccountStatus expected, AccountStatus next) private {
        AccountStatus previous = _status[account];
        if (previous != expected) revert ComplianceInvalidStatus(account, previous);
        _setStatus(account, previous, next);
    }

    /// @dev Effects, event, then the calls to subscribers (trusted contracts the admin added).
    function _setStatus(address account, AccountStatus previous, AccountStatus next) private {
        _status[account] = next;
        emit AccountStatusChanged(account, previous, next, msg.sender);
        uint256 count = _subscribers.length;
        for (uint256 i = 0; i < count; ++i) {
            IComplianceSubscriber(_subscribers[i]).complianceStatusChanged(account, next);
        }
    }
}
