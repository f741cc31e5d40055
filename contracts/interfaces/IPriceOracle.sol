// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @notice Settings of a price oracle, set at deployment and changed by the admin ({IPriceOracle-setConfig}).
/// @dev Fields:
///      - `quorum`: submissions after which a round finalises with their median (at least 1);
///      - `jumpQuorum`: submissions a round needs instead when that median moves more than
///        `maxJumpBps` from the previous final answer (at least `quorum`, at most `MAX_QUORUM`);
///      - `heartbeat`: seconds after which the latest answer counts as stale (more than 0); the
///        feeders post at least this often, and consumers compare it with `updatedAt`;
///      - `minAnswer`, `maxAnswer`: inclusive bounds on every submitted answer, in the feed's
///        decimals (`0 < minAnswer < maxAnswer`). `int128` rather than Chainlink's `int192`, so an
///        answer packs with its round id and both timestamps into one storage word: 1.7e38 is
///        still 1.7e20 whole units at 18 decimals;
///      - `maxJumpBps`: the largest move, in basis points of the previous final answer, that
///        `quorum` reporters may make on their own (0: every move needs `jumpQuorum`).
struct OracleConfig {
    uint8 quorum;
    uint8 jumpQuorum;
    uint32 heartbeat;
    int128 minAnswer;
    int128 maxAnswer;
    uint16 maxJumpBps;
}

/// @notice Where a round stands. Derived from the round's stored timestamps, never stored itself.
/// @dev `None`: nobody has submitted (every round after the open one is `None`). `Collecting`:
///      submissions are coming in, not yet `quorum` of them. `AwaitingConfirmation`: the median of
///      the first `quorum` moved more than `maxJumpBps`; the round waits for `jumpQuorum`.
///      `Final`: the round has its answer, which never changes.
enum RoundState {
    None,
    Collecting,
    AwaitingConfirmation,
    Final
}

/// @title IPriceOracle
/// @notice One price feed (one asset pair), posted by several authorised reporters and read like
///         a Chainlink feed through {AggregatorV3Interface}.
///
///         Rounds are numbered 1, 2, 3, ... and finalise in that order; the open round is the
///         one after the latest final round, and it is the only round that accepts submissions.
///         Each reporter submits one answer per round. Once `quorum` answers are in, the round
///         finalises with their median. If that median moves more than `maxJumpBps` from the
///         previous final answer, the round stays open until `jumpQuorum` reporters have
///         submitted, and then finalises with the median of all of them: a large move needs
///         broader confirmation, not anyone's permission. Nobody, the admin included, can set or
///         correct a price: the admin chooses who reports and how many must agree, and that is
///         all. A final round never changes.
/// @dev Answers are integers in the feed's `decimals()` (8 for a USD price, as Chainlink's).
///      The median of an even number of answers is the mean of the two middle ones, rounded
///      toward zero. `startedAt` is the time of a round's first submission, `updatedAt` the time
///      it finalised, and `answeredInRound` is always the round itself.
interface IPriceOracle is AggregatorV3Interface {
    /// @notice Chainlink's event: `startedBy` made the first submission of `roundId` at `startedAt`.
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    /// @notice Chainlink's event: `roundId` finalised with the answer `current` at `updatedAt`.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @notice `reporter` submitted `answer` for `roundId`.
    event AnswerSubmitted(uint80 indexed roundId, address indexed reporter, int256 answer);

    /// @notice The median of the first `submissions` answers of `roundId` moved more than
    ///         `maxJumpBps` from `previousAnswer`; the round now waits for `jumpQuorum` submissions.
    event JumpDetected(
        uint80 indexed roundId, int256 median, int256 previousAnswer, uint256 submissions, uint256 jumpQuorum
    );

    /// @notice `roundId` is final with `answer`, the median of its `submissions` answers.
    event RoundFinalised(uint80 indexed roundId, int256 answer, uint256 submissions);

    /// @notice The settings are now `config` (emitted at deployment too).
    event ConfigSet(OracleConfig config);

    /// @notice The admin cannot be the zero address.
    error OracleZeroAddress();

    /// @notice No final answer for `roundId`: the round is still open, was never started, or (for
    ///         `latestRoundData`, with `roundId` 0) no round has finalised yet. Read `openRound()`:
    ///         rounds before it are final.
    error OracleNoData(uint80 roundId);

    /// @notice Only the open round `expected` accepts submissions, not `given`: either `given`
    ///         finalised meanwhile (another reporter completed it) or it is not open yet.
    ///         Read `openRound()` and submit for that round.
    error OracleWrongRound(uint80 expected, uint80 given);

    /// @notice `reporter` already submitted for `roundId`; an answer cannot be changed.
    error OracleAlreadyReported(uint80 roundId, address reporter);

    /// @notice A price must be positive; `answer` is not. Check the reporter's price source.
    error OracleAnswerNotPositive(int256 answer);

    /// @notice `answer` lies outside the plausible range [`minAnswer`, `maxAnswer`]: the source is
    ///         wrong, or the range needs widening by the admin (`setConfig`).
    error OracleAnswerOutOfBounds(int256 answer, int128 minAnswer, int128 maxAnswer);

    /// @notice Needs `1 <= quorum <= jumpQuorum <= max`.
    error OracleQuorumInvalid(uint8 quorum, uint8 jumpQuorum, uint8 max);

    /// @notice Needs `0 < minAnswer < maxAnswer`.
    error OracleBoundsInvalid(int128 minAnswer, int128 maxAnswer);

    /// @notice Needs a heartbeat of at least one second.
    error OracleHeartbeatInvalid(uint32 heartbeat);

    // ------------------------------------------------------------------ Chainlink's reads

    /// @notice Decimals of every answer, as set at deployment.
    function decimals() external view override returns (uint8);

    /// @notice The pair, e.g. "EUR / USD", as set at deployment.
    function description() external view override returns (string memory);

    /// @notice Version of this oracle's code: 1.
    function version() external view override returns (uint256);

    /// @notice Final round `_roundId`: its median `answer`, `startedAt` (first submission),
    ///         `updatedAt` (finalisation) and `answeredInRound` (always `_roundId`).
    ///         Reverts with `OracleNoData` for a round that is not final.
    function getRoundData(uint80 _roundId)
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    /// @notice The latest final round, as {getRoundData} returns it; one storage read.
    ///         Reverts with `OracleNoData(0)` until the first round finalises.
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound);

    // ------------------------------------------------------------------ ours

    /// @notice Role of a reporter, who submits answers (granted by the admin).
    function REPORTER_ROLE() external view returns (bytes32);

    /// @notice The largest `jumpQuorum`, hence the most submissions a round can hold: the
    ///         finalising submission reads and sorts them all, so its cost stays bounded.
    function MAX_QUORUM() external view returns (uint8);

    /// @notice Submits the caller's `answer` for `roundId`, which must be the open round.
    ///         Reporter only; once per reporter and round; `answer` positive and within bounds.
    ///         Finalises the round when this submission completes its quorum (see the contract
    ///         description for large moves).
    function submit(uint80 roundId, int256 answer) external;

    /// @notice Replaces the settings. Admin only. Applies to the open round from its next
    ///         submission on; answers already in stay. A round already awaiting confirmation of a
    ///         jump stays so until it has the new `jumpQuorum`; any other round is judged by the
    ///         new `quorum` and `maxJumpBps` (the median of all its answers) at its next submission.
    function setConfig(OracleConfig calldata config) external;

    /// @notice The current settings.
    function config() external view returns (OracleConfig memory);

    /// @notice The only round that accepts submissions: the latest final round plus one.
    function openRound() external view returns (uint80);

    /// @notice Where `roundId` stands.
    function roundState(uint80 roundId) external view returns (RoundState);

    /// @notice The answers submitted for `roundId` so far, in submission order.
    function submissionsOf(uint80 roundId) external view returns (int256[] memory);

    /// @notice True when `reporter` has submitted for `roundId`.
    function hasReported(uint80 roundId, address reporter) external view returns (bool);

    /// @notice True when no round has finalised yet, or the latest final answer is older than
    ///         the heartbeat.
    function isStale() external view returns (bool);
}
