// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IDefaultFund} from "../interfaces/IDefaultFund.sol";

/// @title MockClaimingEngine
/// @notice Test fixture, never deployed by the suite: stands in for a derivative engine that the
///         default fund registered. It reports trades opened and closed, and claims close-out
///         losses the way the engine will: it receives what the fund pays and credits the
///         survivor. It must be `Active` in the registry to receive cash.
///
///         A second instance, not registered, plays a member that is a contract (a bank's own
///         multisig): it joins a fund and approves actions through ERC-1271, by hashes approved
///         beforehand (as a Safe does with `approveHash`). No access control: test only.
/// @dev The fund is a parameter of every call, so the mock can be deployed before the fund
///      that registers it in its constructor.
contract MockClaimingEngine {
    /// @notice One claim of a batch.
    struct Claim {
        address defaulter;
        address survivor;
        uint256 loss;
    }

    /// @notice The fund paid `paid` of `loss` for `survivor`, now credited to it here.
    event Credited(address indexed survivor, uint256 loss, uint256 paid);

    /// @notice The fund said it paid `paid` but the engine received `received`.
    error MockPaymentMismatch(uint256 paid, uint256 received);

    IERC20 public immutable cash;

    /// @notice Cash credited to each survivor by the fund's payments.
    mapping(address survivor => uint256) public creditOf;

    /// @notice Digests this contract approves as a signer (ERC-1271).
    mapping(bytes32 digest => bool) public approvedHashes;

    constructor(IERC20 cash_) {
        cash = cash_;
    }

    function open(IDefaultFund fund, address member, uint256 imAmount) external {
        fund.onTradeOpened(member, imAmount);
    }

    /// @notice Reports one trade between `buyer` and `seller`, each with its IM, as opened.
    function openTrade(IDefaultFund fund, address buyer, uint256 buyerIm, address seller, uint256 sellerIm) external {
        fund.onTradeOpened(buyer, buyerIm);
        fund.onTradeOpened(seller, sellerIm);
    }

    function close(IDefaultFund fund, address member, uint256 imAmount) external {
        fund.onTradeClosed(member, imAmount);
    }

    /// @notice Claims one close-out loss and credits the survivor with what the fund paid.
    function claim(IDefaultFund fund, address defaulter, address survivor, uint256 loss)
        external
        returns (uint256 paid)
    {
        return _claim(fund, Claim(defaulter, survivor, loss));
    }

    /// @notice Claims several losses in one transaction (defaults in the same block).
    function claimMany(IDefaultFund fund, Claim[] calldata claims) external returns (uint256[] memory paid) {
        paid = new uint256[](claims.length);
        for (uint256 i = 0; i < claims.length; ++i) {
            paid[i] = _claim(fund, claims[i]);
        }
    }

    // ------------------------------------------------------------------ as a contract member

    /// @notice Joins `fund` with `amount` of this contract's cash.
    function joinFund(IDefaultFund fund, uint256 amount) external {
        cash.approve(address(fund), amount);
        fund.join(amount);
    }

    /// @notice Approves `digest` as this contract's signature.
    function approveHash(bytes32 digest) external {
        approvedHashes[digest] = true;
    }

    /// @notice ERC-1271: valid for digests approved with {approveHash}, whatever the signature bytes.
    function isValidSignature(bytes32 digest, bytes calldata) external view returns (bytes4) {
        return approvedHashes[digest] ? this.isValidSignature.selector : bytes4(0xffffffff);
    }

    function _claim(IDefaultFund fund, Claim memory c) private returns (uint256 paid) {
        uint256 before = cash.balanceOf(address(this));
        paid = fund.claim(c.defaulter, c.survivor, c.loss);
        uint256 received = cash.balanceOf(address(this)) - before;
        if (received != paid) revert MockPaymentMismatch(paid, received);
        creditOf[c.survivor] += paid;
        emit Credited(c.survivor, c.loss, paid);
    }
}
