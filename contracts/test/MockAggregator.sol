// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @title MockAggregator
/// @notice Test fixture, never deployed by the suite: a Chainlink feed whose rounds the test
///         writes freely, so it can serve stale, non-positive, out-of-order or missing data.
/// @dev Any round never set reads as zeros, like a feed that has no data for it. Nothing is
///      checked: the point is to let the consumer under test see whatever a broken feed could
///      return.
contract MockAggregator is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint256 updatedAt;
    }

    /// @notice Round `roundId` now answers `answer`, updated at `updatedAt`.
    event RoundSet(uint80 indexed roundId, int256 answer, uint256 updatedAt);
    /// @notice `latestRoundData` now reads round `roundId`.
    event LatestSet(uint80 indexed roundId);

    /// @notice The round `latestRoundData` reads.
    uint80 public latestRound;

    mapping(uint80 roundId => Round) private _rounds;

    /// @notice Writes round `roundId` (it does not become the latest: see {setLatest}).
    function setRound(uint80 roundId, int256 answer, uint256 updatedAt) external {
        _rounds[roundId] = Round(answer, updatedAt);
        emit RoundSet(roundId, answer, updatedAt);
    }

    /// @notice Makes `roundId` the round `latestRoundData` reads.
    function setLatest(uint80 roundId) external {
        latestRound = roundId;
        emit LatestSet(roundId);
    }

    /// @notice Writes round `latestRound + 1` and makes it the latest, in one transaction.
    function pushRound(int256 answer, uint256 updatedAt) external returns (uint80 roundId) {
        roundId = latestRound + 1;
        _rounds[roundId] = Round(answer, updatedAt);
        latestRound = roundId;
        emit RoundSet(roundId, answer, updatedAt);
        emit LatestSet(roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external pure returns (uint8) {
        return 8;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external pure returns (string memory) {
        return "MOCK / USD";
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 4;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _read(roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _read(latestRound);
    }

    function _read(uint80 roundId)
        private
        view
        returns (uint80, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory round = _rounds[roundId];
        return (roundId, round.answer, round.updatedAt, round.updatedAt, roundId);
    }
}
