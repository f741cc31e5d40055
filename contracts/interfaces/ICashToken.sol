// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ICompliantToken} from "./ICompliantToken.sol";

/// @title ICashToken
/// @notice Tokenised cash: a regulated settlement coin. ERC-20 with EIP-2612 permit, issued by
///         minters within allowances that a master minter sets, redeemed (burned) by a burner,
///         paused by a pauser, and movable only between accounts that the shared compliance
///         registry holds `Active`.
/// @dev Amounts are integers in the token's smallest unit (`decimals()`).
interface ICashToken is ICompliantToken {
    /// @notice `minter` may now mint up to `allowance` more units.
    event MinterConfigured(address indexed minter, uint256 allowance);

    /// @notice `minter` may no longer mint.
    event MinterRemoved(address indexed minter);

    /// @notice `minter` issued `amount` to `to`.
    event Minted(address indexed minter, address indexed to, uint256 amount);

    /// @notice `burner` redeemed `amount` from its own balance.
    event Burned(address indexed burner, uint256 amount);

    /// @notice Minting or burning zero units is meaningless.
    error CashZeroAmount();

    /// @notice A role cannot be given to the zero address.
    error CashZeroAddress();

    /// @notice `minter` asked to mint `amount` but only `allowance` remains: ask the master minter.
    error CashMinterAllowanceExceeded(address minter, uint256 allowance, uint256 amount);

    /// @notice Role that sets minters' allowances.
    function MASTER_MINTER_ROLE() external view returns (bytes32);

    /// @notice Role of a minter (granted by {configureMinter}).
    function MINTER_ROLE() external view returns (bytes32);

    /// @notice Role that redeems (burns) cash handed to it.
    function BURNER_ROLE() external view returns (bytes32);


    /// @notice Makes `minter` a minter with `allowance` units left to mint. Master minter only.
    function configureMinter(address minter, uint256 allowance) external;

    /// @notice Removes `minter`'s role and allowance. Master minter only.
    function removeMinter(address minter) external;

    /// @notice Units `minter` may still mint.
    function minterAllowance(address minter) external view returns (uint256);

    /// @notice Issues `amount` to `to`, using the caller's allowance. Minter only.
    function mint(address to, uint256 amount) external;

    /// @notice Burns `amount` of the caller's own balance. Burner only.
    function burn(uint256 amount) external;
}
