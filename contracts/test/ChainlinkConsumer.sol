// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title ChainlinkConsumer
/// @notice Test fixture, never deployed by the suite: a price reader written only against
///         Chainlink's {AggregatorV3Interface}, checking what a careful Chainlink consumer checks.
///         Tests point it at a {PriceOracle} to prove the oracle is a drop-in Chainlink feed.
/// @dev It knows nothing of the oracle: no import of it, no call outside the interface.
contract ChainlinkConsumer {
    /// @notice The answer of `roundId` was updated at `updatedAt`, more than `maxAge` seconds
    ///         before `blockTimestamp`.
    error ConsumerStaleAnswer(uint80 roundId, uint256 updatedAt, uint256 maxAge, uint256 blockTimestamp);

    /// @notice The feed answered `answer` for `roundId`, which is no price.
    error ConsumerNonPositiveAnswer(uint80 roundId, int256 answer);

    /// @notice The feed's round `roundId` is not complete (no `updatedAt`, or answered in an
    ///         earlier round `answeredInRound`).
    error ConsumerIncompleteRound(uint80 roundId, uint80 answeredInRound);

    /// @notice The feed read.
    AggregatorV3Interface public immutable feed;

    /// @notice Oldest answer accepted, in seconds.
    uint256 public immutable maxAge;

    /// @param feed_ Any Chainlink-compatible feed.
    /// @param maxAge_ Oldest answer accepted, in seconds.
    constructor(AggregatorV3Interface feed_, uint256 maxAge_) {
        feed = feed_;
        maxAge = maxAge_;
    }

    /// @notice The latest answer and its time; reverts when stale, incomplete or not positive.
    function latestPrice() public view returns (int256 answer, uint256 updatedAt) {
        uint80 roundId;
        uint80 answeredInRound;
        (roundId, answer,, updatedAt, answeredInRound) = feed.latestRoundData();
        _check(roundId, answer, updatedAt, answeredInRound);
        if (block.timestamp - updatedAt > maxAge) {
            revert ConsumerStaleAnswer(roundId, updatedAt, maxAge, block.timestamp);
        }
    }

    /// @notice The latest answer scaled to 18 decimals, using the feed's `decimals()`.
    function latestPriceE18() external view returns (uint256 priceE18) {
        (int256 answer,) = latestPrice();
        uint8 feedDecimals = feed.decimals();
        // answer > 0 (checked in latestPrice).
        priceE18 = feedDecimals <= 18
            ? uint256(answer) * 10 ** (18 - feedDecimals)
            : uint256(answer) / 10 ** (feedDecimals - 18);
    }

    /// @notice The answer of a past round and its time (no age limit: history is history).
    function priceAt(uint80 roundId_) external view returns (int256 answer, uint256 updatedAt) {
        uint80 roundId;
        uint80 answeredInRound;
        (roundId, answer,, updatedAt, answeredInRound) = feed.getRoundData(roundId_);
        _check(roundId, answer, updatedAt, answeredInRound);
    }

    /// @notice The feed's self-description, as a consumer would log it.
    function feedInfo() external view returns (string memory description, uint8 decimals, uint256 version) {
        return (feed.description(), feed.decimals(), feed.version());
    }

    function _check(uint80 roundId, int256 answer, uint256 updatedAt, uint80 answeredInRound) private pure {
        if (updatedAt == 0 || answeredInRound < roundId) revert ConsumerIncompleteRound(roundId, answeredInRound);
        if (answer <= 0) revert ConsumerNonPositiveAnswer(roundId, answer);
    }
}
