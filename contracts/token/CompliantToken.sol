// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20, ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit, ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ComplianceMirror} from "../compliance/ComplianceMirror.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {ICompliantToken} from "../interfaces/ICompliantToken.sol";

/// @title CompliantToken
/// @notice The compliance and pause rules every token of the market enforces. See {ICompliantToken}.
/// @dev OpenZeppelin's ERC-20 + permit with two hooks: {_update} (every movement) and {_approve}
///      (every new approval), plus the spender check in {transferFrom}. Statuses come from the
///      token's {ComplianceMirror} copy of the registry (one storage read per account instead of
///      a call). Issuance is the concrete token's: {CashToken} (minters within allowances),
///      {SecurityToken} (an issuer).
abstract contract CompliantToken is ICompliantToken, ERC20Permit, AccessControl, Pausable, ComplianceMirror {
    /// @inheritdoc ICompliantToken
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint8 private immutable _decimals;

    /// @inheritdoc ICompliantToken
    /// @dev Written only by {unpause}: transfers never read it.
    uint40 public lastUnpausedAt;

    /// @param name_ Token name, also the EIP-712 domain name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the smallest unit.
    /// @param registry_ The shared compliance registry.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IComplianceRegistry registry_, address admin)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        ComplianceMirror(registry_)
    {
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc ICompliantToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ICompliantToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        lastUnpausedAt = uint40(block.timestamp);
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
    function nonces(address owner) public view virtual override(ERC20Permit, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }

    /// @dev Every movement (transfer, issuance, redemption): not paused, both ends active.
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
