// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";

import {ICashToken} from "../interfaces/ICashToken.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {CompliantToken} from "./CompliantToken.sol";

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
contract CashToken is ICashToken, CompliantToken {
    /// @inheritdoc ICashToken
    bytes32 public constant MASTER_MINTER_ROLE = keccak256("MASTER_MINTER_ROLE");
    /// @inheritdoc ICashToken
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @inheritdoc ICashToken
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");
    /// @inheritdoc ICashToken
    mapping(address minter => uint256) public minterAllowance;

    /// @param name_ Token name, also the EIP-712 domain name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals of the smallest unit (6 for a USD coin).
    /// @param registry_ The shared compliance registry.
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_, IComplianceRegistry registry_, address admin)
        CompliantToken(name_, symbol_, decimals_, registry_, admin)
    {
        if (admin == address(0) || address(registry_) == address(0)) revert CashZeroAddress();
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

    /// @inheritdoc IERC20Permit
    /// @dev The compiler asks for it: the interface and the base both declare `nonces`.
    function nonces(address owner) public view override(CompliantToken, IERC20Permit) returns (uint256) {
        return super.nonces(owner);
    }
}
