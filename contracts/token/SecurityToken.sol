// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {ISecurityToken} from "../interfaces/ISecurityToken.sol";
import {CompliantToken} from "./CompliantToken.sol";

/// @title SecurityToken
/// @notice A tokenised bond or share. See {ISecurityToken}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` (grants roles; hand it to a multisig), `ISSUER_ROLE`,
///      `PAUSER_ROLE`; the compliance officer is the registry's `COMPLIANCE_ROLE`. Compliance is
///      enforced from a {ComplianceMirror} copy of the registry, as in the cash token.
///
///      Invariants (tested in tests/settlement/test_security_token.py):
///      - `totalSupply() == sum of balanceOf` over every account;
///      - supply grows only by `issue` and shrinks only by `redeem`, both by the issuer;
///      - no account that the registry does not hold `Active` sends, receives, approves,
///        is approved or spends an allowance; nothing moves while paused.
contract SecurityToken is ISecurityToken, CompliantToken {
    /// @inheritdoc ISecurityToken
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");

    /// @param name_ Token name, also the EIP-712 domain name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the smallest unit (0 for whole shares).
    /// @param registry_ The shared compliance registry.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IComplianceRegistry registry_, address admin)
        CompliantToken(name_, symbol_, decimals_, registry_, admin)
    {
        if (admin == address(0) || address(registry_) == address(0)) revert SecurityZeroAddress();
    }

    // ------------------------------------------------------------------ issuance

    /// @inheritdoc ISecurityToken
    function issue(address to, uint256 amount) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert SecurityZeroAmount();
        _requireActive(msg.sender);
        _mint(to, amount);
        emit Issued(msg.sender, to, amount);
    }

    /// @inheritdoc ISecurityToken
    function redeem(uint256 amount) external onlyRole(ISSUER_ROLE) {
        if (amount == 0) revert SecurityZeroAmount();
        _burn(msg.sender, amount);
        emit Redeemed(msg.sender, amount);
    }

    /// @inheritdoc IERC20Permit
    /// @dev The compiler asks for it: the interface and the base both declare `nonces`.
    function nonces(address owner) public view override(CompliantToken, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }
}
