// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ReentrantSigner
/// @notice Test fixture, never deployed by the suite: a malicious contract party (a fund member,
///         a DvP party) whose ERC-1271 check, which the contracts make while they verify its
///         consent, first calls back into a target with calldata the test chose (another
///         governance action, another settlement). It consents to every digest only when that
///         callback failed: were the callback to succeed, the outer call would see no consent and
///         fail, which the tests would notice. Anyone may arm it or make it call out.
/// @dev The contracts check ERC-1271 signatures with a static call, so the callback runs in a
///      static context; that is what the tests prove harmless.
contract ReentrantSigner {
    bytes4 private constant _MAGIC = 0x1626ba7e;
    bytes4 private constant _REFUSED = 0xffffffff;

    /// @notice Where the callback goes, and with what calldata; zero: no callback.
    address public target;
    bytes public callbackData;

    /// @notice Calls `target_` with `data` from every later signature check.
    function arm(address target_, bytes calldata data) external {
        target = target_;
        callbackData = data;
    }

    /// @notice Calls `to` with `data` as this contract (to approve tokens, join a fund).
    function execute(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory result) = to.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
        return result;
    }

    /// @notice ERC-1271 (not declared `view`, so it can try to call back): valid for every digest
    ///         when the callback failed or there is none, invalid when it succeeded.
    function isValidSignature(bytes32, bytes calldata) external returns (bytes4) {
        if (target == address(0)) return _MAGIC;
        (bool reentered,) = target.call(callbackData);
        return reentered ? _REFUSED : _MAGIC;
    }
}
