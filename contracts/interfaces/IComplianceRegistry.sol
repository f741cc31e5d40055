// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Where an account stands with the market's compliance officer.
/// @dev `None` is the default: never onboarded, or offboarded. Only `Active` accounts may hold,
///      send or receive the market's tokens, or enter trades.
enum AccountStatus {
    None,
    Active,
    Frozen
}

/// @title IComplianceRegistry
/// @notice One allowlist of onboarded accounts shared by every contract of the market (cash,
///         securities, derivatives, default fund, settlement). A compliance officer onboards,
///         freezes, unfreezes and offboards accounts; a regulator observer role marks who may read
///         the books and holds no power over them.
/// @dev Contracts that keep a copy of account statuses for cheap reads (the tokens) register as
///      subscribers: every status change is pushed to every subscriber in the same transaction,
///      so a copy can never say `Active` where the registry does not. Subscriptions are permanent.
interface IComplianceRegistry {
    /// @notice An account's status changed from `previous` to `current`, by `officer`.
    event AccountStatusChanged(
        address indexed account, AccountStatus previous, AccountStatus current, address indexed officer
    );

    /// @notice `subscriber` now receives every status change.
    event SubscriberAdded(address indexed subscriber);

    /// @notice The zero address cannot be onboarded or subscribed.
    error ComplianceZeroAddress();

    /// @notice The requested change does not apply to an account in status `actual`
    ///         (onboard needs `None`, freeze needs `Active`, unfreeze needs `Frozen`, offboard
    ///         needs `Active` or `Frozen`). Read `statusOf(account)` and pick the right call.
    error ComplianceInvalidStatus(address account, AccountStatus actual);

    /// @notice `account` is not `Active`: it is not onboarded (`None`) or is `Frozen`.
    error ComplianceAccountNotActive(address account, AccountStatus status);

    /// @notice `subscriber` is already subscribed.
    error ComplianceSubscriberExists(address subscriber);

    /// @notice `subscriber` does not declare {IComplianceSubscriber} through ERC-165. A wrong
    ///         subscriber could never be removed and would make every status change revert.
    error ComplianceSubscriberUnsupported(address subscriber);

    /// @notice No more than `max` subscribers: each status change calls every one of them.
    error ComplianceTooManySubscribers(uint256 max);

    /// @notice Role of the compliance officer, who changes account statuses.
    function COMPLIANCE_ROLE() external view returns (bytes32);

    /// @notice Role of a regulator observer: recognised by the toolkit, moves nothing on-chain.
    function REGULATOR_ROLE() external view returns (bytes32);

    /// @notice Onboards `account` (`None` -> `Active`).
    function onboard(address account) external;

    /// @notice Onboards every account in `accounts`; reverts as a whole if any cannot be.
    function onboardBatch(address[] calldata accounts) external;

    /// @notice Freezes `account` (`Active` -> `Frozen`): it can no longer send, receive or trade.
    function freeze(address account) external;

    /// @notice Unfreezes `account` (`Frozen` -> `Active`).
    function unfreeze(address account) external;

    /// @notice Offboards `account` (`Active` or `Frozen` -> `None`).
    function offboard(address account) external;

    /// @notice Subscribes `subscriber` to every future status change. Admin only; permanent.
    ///         The subscriber must declare {IComplianceSubscriber} through ERC-165.
    function addSubscriber(address subscriber) external;

    /// @notice The status of `account`.
    function statusOf(address account) external view returns (AccountStatus);

    /// @notice True when `account` is onboarded and not frozen.
    function isActive(address account) external view returns (bool);

    /// @notice Reverts with `ComplianceAccountNotActive` unless `account` is `Active`.
    function requireActive(address account) external view;

    /// @notice True when `subscriber` receives status changes.
    function isSubscriber(address subscriber) external view returns (bool);

    /// @notice Every subscriber, in subscription order.
    function subscribers() external view returns (address[] memory);
}

/// @title IComplianceSubscriber
/// @notice Implemented by contracts that keep a copy of account statuses.
interface IComplianceSubscriber {
    /// @notice Called by the registry, and only by it, after `account` changed to `status`.
    function complianceStatusChanged(address account, AccountStatus status) external;
}
