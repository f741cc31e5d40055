// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {AccountStatus, IComplianceRegistry, IComplianceSubscriber} from "../interfaces/IComplianceRegistry.sol";

/// @title ComplianceRegistry
/// @notice The market's one allowlist. See {IComplianceRegistry}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` grants roles, adds and removes subscribers (hand it to a multisig);
///      `COMPLIANCE_ROLE` changes statuses and records identities; `REGULATOR_ROLE` observes and
///      publishes its disclosure key.
///
///      Invariants (tested in tests/contracts/test_compliance_registry.py and
///      tests/identity/test_registry_identity.py):
///      - every status change is one of None->Active, Active->Frozen, Frozen->Active,
///        Active|Frozen->None, and emits `AccountStatusChanged`;
///      - after any change, every subscriber's copy of the account's status equals `statusOf`;
///      - regulator key epochs start at 1 and grow by one per publication, each emitting
///        `RegulatorKeyPublished`; `regulatorKey()` is the key of the latest epoch, and the key of
///        an epoch never changes once published;
///      - `identityOf(a)` is the keccak256 and key epoch of the envelope of the last
///        `IdentityRecorded` for `a`; each record was made while `a` was `Active` or `Frozen` and
///        names the key epoch current at that time; recording changes no status and calls nobody.
contract ComplianceRegistry is IComplianceRegistry, AccessControl {
    /// @inheritdoc IComplianceRegistry
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @inheritdoc IComplianceRegistry
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    /// @notice Bound on subscribers, so a status change has a bounded cost.
    uint256 public constant MAX_SUBSCRIBERS = 16;

    /// @inheritdoc IComplianceRegistry
    uint256 public constant MAX_IDENTITY_BYTES = 1280;
    /// @dev The identity envelope format this registry reads (its first byte).
    uint8 private constant IDENTITY_FORMAT_VERSION = 1;
    /// @dev What the registry reads of an envelope: the format version (1 byte), the key epoch (4).
    uint256 private constant IDENTITY_HEADER_BYTES = 5;
    /// @dev A compressed secp256k1 public key: 0x02 or 0x03, then the 32-byte x coordinate.
    uint256 private constant COMPRESSED_KEY_BYTES = 33;

    /// @dev An account's current identity record (the envelope itself is in its event).
    struct IdentityRecord {
        bytes32 envelopeHash;
        uint32 epoch;
    }

    mapping(address account => AccountStatus) private _status;
    address[] private _subscribers;
    mapping(address subscriber => bool) private _isSubscriber;
    uint32 private _regulatorEpoch;
    mapping(uint32 epoch => bytes publicKey) private _regulatorKeys;
    mapping(address account => IdentityRecord) private _identities;

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

    /// @inheritdoc IComplianceRegistry
    function removeSubscriber(address subscriber) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_isSubscriber[subscriber]) revert ComplianceNotSubscriber(subscriber);
        _isSubscriber[subscriber] = false;
        uint256 last = _subscribers.length - 1;
        for (uint256 i = 0; i < last; ++i) {
            if (_subscribers[i] == subscriber) {
                _subscribers[i] = _subscribers[last];
                break;
            }
        }
        _subscribers.pop();
        emit SubscriberRemoved(subscriber);
    }

    // ------------------------------------------------------------------ identities

    /// @inheritdoc IComplianceRegistry
    function publishRegulatorKey(bytes calldata publicKey) external onlyRole(REGULATOR_ROLE) returns (uint32 epoch) {
        if (publicKey.length != COMPRESSED_KEY_BYTES || (publicKey[0] != 0x02 && publicKey[0] != 0x03)) {
            revert ComplianceRegulatorKeyInvalid(publicKey);
        }
        epoch = _regulatorEpoch + 1; // checked: the 4,294,967,296th publication reverts
        _regulatorEpoch = epoch;
        _regulatorKeys[epoch] = publicKey;
        emit RegulatorKeyPublished(epoch, publicKey, msg.sender);
    }

    /// @inheritdoc IComplianceRegistry
    function recordIdentity(address account, bytes calldata envelope) external onlyRole(COMPLIANCE_ROLE) {
        AccountStatus status = _status[account];
        if (status == AccountStatus.None) revert ComplianceInvalidStatus(account, status);
        uint256 size = envelope.length;
        if (size < IDENTITY_HEADER_BYTES || size > MAX_IDENTITY_BYTES) {
            revert ComplianceIdentitySize(size, IDENTITY_HEADER_BYTES, MAX_IDENTITY_BYTES);
        }
        uint32 current = _regulatorEpoch;
        if (current == 0) revert ComplianceNoRegulatorKey();
        uint8 version = uint8(envelope[0]);
        if (version != IDENTITY_FORMAT_VERSION) revert ComplianceIdentityVersion(version, IDENTITY_FORMAT_VERSION);
        uint32 epoch = uint32(bytes4(envelope[1:IDENTITY_HEADER_BYTES]));
        if (epoch != current) revert ComplianceIdentityStaleKey(epoch, current);
        _identities[account] = IdentityRecord(keccak256(envelope), epoch);
        emit IdentityRecorded(account, epoch, envelope, msg.sender);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IComplianceRegistry
    function regulatorKey() external view returns (uint32 epoch, bytes memory publicKey) {
        epoch = _regulatorEpoch;
        publicKey = _regulatorKeys[epoch];
    }

    /// @inheritdoc IComplianceRegistry
    function regulatorKeyAt(uint32 epoch) external view returns (bytes memory publicKey) {
        return _regulatorKeys[epoch];
    }

    /// @inheritdoc IComplianceRegistry
    function identityOf(address account) external view returns (bytes32 envelopeHash, uint32 epoch) {
        IdentityRecord storage record = _identities[account];
        return (record.envelopeHash, record.epoch);
    }

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
