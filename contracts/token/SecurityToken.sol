// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20, ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit, ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ComplianceMirror} from "../compliance/ComplianceMirror.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {ISecurityToken} from "../interfaces/ISecurityToken.sol";

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
contract SecurityToken is ISecurityToken, ERC20Permit, AccessControl, Pausable, ComplianceMirror {
    /// @inheritdoc ISecurityToken
    bytes32 public constant ISSUER_ROLE = keccak256("ISSUER_ROLE");
    /// @inheritdoc ISecurityToken
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint8 private immutable _decimals;

    /// @param name_ Token name, also the EIP-712 domain name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the smallest unit (0 for whole shares).
    /// @param registry_ The shared compliance registry.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IComplianceRegistry registry_, address admin)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        ComplianceMirror(registry_)
    {
        if (admin == address(0) || address(registry_) == address(0)) revert SecurityZeroAddress();
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
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

    // ------------------------------------------------------------------ pause

    /// @inheritdoc ISecurityToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ISecurityToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ ERC-20 hooks

    /// @dev ERC-165 for AccessControl and the compliance subscriber interface.
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(AccessControl, ComplianceMirror)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    /// @inheritdoc ERC20
    function decimals() public view override(ERC20, IERC20Metadata) returns (uint8) {
        return _decimals;
    }

    /// @inheritdoc ERC20
    /// @dev The spender of an allowance must be active too.
    function transferFrom(address from, address to, uint256 value) public override(ERC20, IERC20) returns (bool) {
        _requireActive(msg.sender);
        return super.transferFrom(from, to, value);
    }

    /// @inheritdoc IERC20Permit
    function nonces(address owner) public view override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }

    /// @dev Every movement (transfer, issue, redeem): not paused, both ends active.
    function _update(address from, address to, uint256 value) internal override {
        _requireNotPaused();
        if (from != address(0)) _requireActive(from);
        if (to != address(0)) _requireActive(to);
        super._update(from, to, value);
    }

    /// @dev New approvals (approve, permit): not paused, owner and spender active. Allowance
    ///      spending (`emitEvent == false`) is checked in {transferFrom}.
    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        if (emitEvent) {
            _requireNotPaused();
            if (owner != address(0)) _requireActive(owner);
            if (spender != address(0)) _requireActive(spender);
        }
        super._approve(owner, spender, value, emitEvent);
    }
}
