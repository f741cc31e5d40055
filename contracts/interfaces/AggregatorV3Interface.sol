// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Chainlink's public price-feed interface, copied verbatim from smartcontractkit/chainlink
// (contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol, MIT licence; also in the npm
// package @chainlink/contracts). Only the pragma differs. Any contract written against it reads a
// PriceOracle (contracts/oracle/PriceOracle.sol), whose interface IPriceOracle extends this one.

// solhint-disable-next-line interface-starts-with-i
interface AggregatorV3Interface {
  function decimals() external view returns (uint8);

  function description() external view returns (string memory);

  function version() external view returns (uint256);

  function getRoundData(
    uint80 _roundId
  ) external view returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

  function latestRoundData()
    external
    view
    returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);
}
