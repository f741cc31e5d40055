// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20, ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit, ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {ComplianceMirror} from "../compliance/ComplianceMirror.sol";
import {ICashToken} from "../interfaces/ICashToken.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";

/// @title CashToken
/// @notice Tokenised cash. See {ICashToken}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` (grants roles; hand it to a multisig), `MASTER_MINTER_ROLE`,
///      `MINTER_ROLE` (administered by the master minter), `BURNER_ROLE`, `PAUSER_ROLE`; the
///      compliance officer is the registry's `COMPLIANCE_ROLE`.
///
///      Invariants (tested in tests/contracts/test_cash_properties.py):
///      - `totalSupply() == sum of balanceOf` over every account, through any sequence of
///        mint, burn, transfer, transferFrom and permit;
///      - supply grows only by `mint`, within the minter's allowance, and shrinks only by `burn`;
///      - no account that the registry does not hold `Active` sends, receives, approves,
///        is approved or spends an allowance; nothing moves while paused.
contract CashToken is ICashToken, ERC20Permit, AccessControl, Pausable, ComplianceMirror {
    /// @inheritdoc ICashToken
    bytes32 public constant MASTER_MINTER_ROLE = keccak256("MASTER_MINTER_ROLE");
    /// @inheritdoc ICashToken
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @inheritdoc ICashToken
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @inheritdoc ICashToken
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint8 private immutable _decimals;

    /// @inheritdoc ICashToken
    mapping(address minter => uint256) public minterAllowance;

    /// @param name_ Token name, also the EIP-712 domain name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the smallest unit (6 for a USD coin).
    /// @param registry_ The shared compliance registry.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IComplianceRegistry registry_, address admin)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
        ComplianceMirror(registry_)
    {
        if (admin == address(0) || address(registry_) == address(0)) revert CashZeroAddress();
        _decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setRoleAdmin(MINTER_ROLE, MASTER_MINTER_ROLE);
    }

    // ------------------------------------------------------------------ issuance

    /// @inheritdoc ICashToken
    function configureMinter(address minter, uint256 allowance) external onlyRole(MASTER_MINTER_ROLE) {
        if (minter == address(0)) revert CashZeroAddress();
        minterAllowance[minter] = allowance;
        _grantRole(MINTER_ROLE, minter);
        emit MinterConfigured(minter, allowance);
    }

    /// @inheritdoc ICashToken
    function removeMinter(address minter) external onlyRole(MASTER_MINTER_ROLE) {
        minterAllowance[minter] = 0;
        _revokeRole(MINTER_ROLE, minter);
        emit MinterRemoved(minter);
    }

    /// @inheritdoc ICashToken
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        if (amount == 0) revert CashZeroAmount();
        _requireActive(msg.sender);
        uint256 allowance = minterAllowance[msg.sender];
        if (amount > allowance) revert CashMinterAllowanceExceeded(msg.sender, allowance, amount);
        unchecked {
            // amount <= allowance, checked above.
            minterAllowance[msg.sender] = allowance - amount;
        }
        _mint(to, amount);
        emit Minted(msg.sender, to, amount);
    }

    /// @inheritdoc ICashToken
    function burn(uint256 amount) external onlyRole(BURNER_ROLE) {
        if (amount == 0) revert CashZeroAmount();
        _burn(msg.sender, amount);
        emit Burned(msg.sender, amount);
    }

    // ------------------------------------------------------------------ pause

    /// @inheritdoc ICashToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc ICashToken
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

    /// @dev Every movement (transfer, mint, burn): not paused, both ends active.
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
