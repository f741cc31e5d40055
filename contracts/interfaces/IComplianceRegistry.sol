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
///
///      Identities. The regulator publishes a disclosure public key (secp256k1, compressed; each
///      publication starts a new key epoch, so keys can be rotated). The compliance officer records
///      each known account's identity (legal name, LEI, jurisdiction) as an envelope encrypted off
///      chain to the regulator's current key and to the account's own key: the chain stores the
///      envelope's hash and key epoch and carries the envelope in `IdentityRecorded`, and anyone
///      else sees only addresses. The contract cannot check the encryption; it checks who records,
///      for whom, the size, the format version and that the envelope names the current key epoch.
///      Envelope format (version 1, built by `dfmi_py.identity.crypto`): byte 0 the format
///      version, bytes 1-4 the regulator key epoch (big-endian), then the recipient count, a
///      commitment to the content key, the recipients' wrapped keys and the ciphertext. See
///      docs/disclosure.md for what this protects and what it does not.
interface IComplianceRegistry {
    /// @notice An account's status changed from `previous` to `current`, by `officer`.
    event AccountStatusChanged(
        address indexed account, AccountStatus previous, AccountStatus current, address indexed officer
    );

    /// @notice `subscriber` now receives every status change.
    event SubscriberAdded(address indexed subscriber);

    /// @notice `subscriber` no longer receives status changes (its copy stays as it was until it is
    ///         subscribed again and synced).
    event SubscriberRemoved(address indexed subscriber);

    /// @notice The regulator `regulator` published `publicKey` (compressed secp256k1, 33 bytes) as
    ///         the disclosure key of epoch `epoch`; identities recorded from now on are encrypted to it.
    event RegulatorKeyPublished(uint32 indexed epoch, bytes publicKey, address indexed regulator);

    /// @notice `officer` recorded `account`'s identity: `envelope` is encrypted to the regulator's
    ///         key of epoch `epoch` and to the account's own key. It replaces any earlier record;
    ///         `identityOf(account)` holds its hash.
    event IdentityRecorded(address indexed account, uint32 indexed epoch, bytes envelope, address indexed officer);

    /// @notice The zero address cannot be onboarded or subscribed.
    error ComplianceZeroAddress();

    /// @notice The requested change does not apply to an account in status `actual`
    ///         (onboard needs `None`, freeze needs `Active`, unfreeze needs `Frozen`, offboard
    ///         and recordIdentity need `Active` or `Frozen`). Read `statusOf(account)` and pick
    ///         the right call (onboard the account before recording its identity).
    error ComplianceInvalidStatus(address account, AccountStatus actual);

    /// @notice `account` is not `Active`: it is not onboarded (`None`) or is `Frozen`.
    error ComplianceAccountNotActive(address account, AccountStatus status);

    /// @notice `subscriber` is already subscribed.
    error ComplianceSubscriberExists(address subscriber);

    /// @notice `subscriber` does not declare {IComplianceSubscriber} through ERC-165.
    error ComplianceSubscriberUnsupported(address subscriber);

    /// @notice `subscriber` is not subscribed.
    error ComplianceNotSubscriber(address subscriber);

    /// @notice No more than `max` subscribers: each status change calls every one of them.
    error ComplianceTooManySubscribers(uint256 max);

    /// @notice `publicKey` is not a compressed secp256k1 key: 33 bytes starting with 0x02 or 0x03.
    ///         Publish the key as `dfmi compliance regulator-key publish` encodes it.
    error ComplianceRegulatorKeyInvalid(bytes publicKey);

    /// @notice No regulator disclosure key is published yet: identities have nobody to be
    ///         encrypted to. The regulator publishes one first (`publishRegulatorKey`).
    error ComplianceNoRegulatorKey();

    /// @notice An identity envelope of `size` bytes is outside `min`..`max`. Every record the
    ///         toolkit makes fits (the longest, 200 four-byte characters of legal name, makes
    ///         1,114 bytes); anything larger is not an identity record.
    error ComplianceIdentitySize(uint256 size, uint256 min, uint256 max);

    /// @notice The envelope's format version `version` is not the one this registry reads (`expected`).
    error ComplianceIdentityVersion(uint8 version, uint8 expected);

    /// @notice The envelope is encrypted to the regulator key of epoch `epoch`, not to the current
    ///         one (`currentEpoch`): the key was rotated meanwhile. Encrypt it again to the
    ///         current key (`regulatorKey()`).
    error ComplianceIdentityStaleKey(uint32 epoch, uint32 currentEpoch);

    /// @notice Role of the compliance officer, who changes account statuses.
    function COMPLIANCE_ROLE() external view returns (bytes32);

    /// @notice Role of a regulator observer: moves nothing on-chain; publishes the disclosure
    ///         key identities are encrypted to.
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

    /// @notice Subscribes `subscriber` to every future status change. Admin only.
    ///         The subscriber must declare {IComplianceSubscriber} through ERC-165.
    function addSubscriber(address subscriber) external;

    /// @notice Unsubscribes `subscriber`. Admin only. A subscriber that reverts makes every status
    ///         change revert (a freeze could not be lifted): removing it restores them. The order of
    ///         the remaining subscribers may change.
    function removeSubscriber(address subscriber) external;

    /// @notice Publishes `publicKey` (compressed secp256k1, 33 bytes) as the regulator's disclosure
    ///         key of the next epoch (the first is 1). Regulator only. Earlier records stay
    ///         encrypted to the key of their own epoch: rotation does not re-encrypt the past.
    /// @return epoch The new key's epoch.
    function publishRegulatorKey(bytes calldata publicKey) external returns (uint32 epoch);

    /// @notice Records `account`'s identity envelope, replacing any earlier one. Compliance officer
    ///         only; `account` must be onboarded (`Active` or `Frozen`); the envelope must name the
    ///         current regulator key epoch, carry format version 1 and hold at most
    ///         `MAX_IDENTITY_BYTES` bytes. Emits `IdentityRecorded` with the envelope.
    function recordIdentity(address account, bytes calldata envelope) external;

    /// @notice The largest identity envelope `recordIdentity` accepts, in bytes.
    function MAX_IDENTITY_BYTES() external view returns (uint256);

    /// @notice The current regulator disclosure key and its epoch (`0` and empty before the first).
    function regulatorKey() external view returns (uint32 epoch, bytes memory publicKey);

    /// @notice The regulator disclosure key of epoch `epoch` (empty if none was published as it).
    function regulatorKeyAt(uint32 epoch) external view returns (bytes memory publicKey);

    /// @notice `account`'s current identity record: the keccak256 of its envelope and the
    ///         regulator key epoch it is encrypted to (zero hash and epoch if none).
    function identityOf(address account) external view returns (bytes32 envelopeHash, uint32 epoch);

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
