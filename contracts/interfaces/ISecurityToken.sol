// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ICompliantToken} from "./ICompliantToken.sol";

/// @title ISecurityToken
/// @notice A tokenised security (a bond or a share): ERC-20 with EIP-2612 permit, issued and
///         redeemed by an issuer, paused by a pauser, and movable only between accounts that the
///         shared compliance registry holds `Active`. It is the delivery leg of DvP settlement.
/// @dev Amounts are integers in the token's smallest unit (`decimals()`: 0 for whole shares, or
///      the bond's denomination). Transfers check the registry exactly as the cash token does, so
///      a delivery costs what a payment costs.
interface ISecurityToken is ICompliantToken {
    /// @notice `issuer` issued `amount` to `to`.
    event Issued(address indexed issuer, address indexed to, uint256 amount);

    /// @notice `issuer` redeemed (burned) `amount` from its own balance.
    event Redeemed(address indexed issuer, uint256 amount);

    /// @notice Issuing or redeeming zero units is meaningless.
    error SecurityZeroAmount();

    /// @notice The registry or the admin cannot be the zero address.
    error SecurityZeroAddress();

    /// @notice Role of the issuer, who issues new units and redeems units handed back to it.
    function ISSUER_ROLE() external view returns (bytes32);

    /// @notice Issues `amount` new units to `to` (an active account). Issuer only; the issuer
    ///         must be active too.
    function issue(address to, uint256 amount) external;

    /// @notice Redeems `amount` units from the issuer's own balance: holders hand units back
    ///         (for instance against cash in a DvP with the issuer), then the issuer redeems them.
    ///         Issuer only.
    function redeem(uint256 amount) external;
}
