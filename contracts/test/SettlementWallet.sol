// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title SettlementWallet
/// @notice Test fixture, never deployed by the suite: a contract account (a bank's own wallet, in
///         miniature) that consents to settlement instructions through ERC-1271: a digest is
///         signed when its owner's key signed it. The owner approves tokens from it.
contract SettlementWallet is IERC1271 {
    address public immutable owner;

    /// @notice Only the owner approves tokens; `caller` is not it.
    error SettlementWalletNotOwner(address caller);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Lets `spender` move `amount` of `token` from this wallet. Owner only.
    function approve(IERC20 token, address spender, uint256 amount) external {
        if (msg.sender != owner) revert SettlementWalletNotOwner(msg.sender);
        token.approve(spender, amount);
    }

    /// @inheritdoc IERC1271
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }
}
