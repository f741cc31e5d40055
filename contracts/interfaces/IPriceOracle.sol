// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @notice Settings of a price oracle, set at deployment and changed only by the reporters' own
///         k-of-n ({IPriceOracle-propose}, {IPriceOracle-approve}).
/// @dev Fields, with `n` the number of reporters and `f = maxFaults`:
///      - `maxFaults`: `f`, how many reporters may be dishonest (safety) and, at the same time,
///        how many may be silent (liveness); at least 1;
///      - `quorum`: reports after which a round finalises with their median; odd and at least
///        `2f + 1`, so the median lies between two honest reports;
///      - `jumpQuorum`: reports a round needs instead when its median is more than `maxJumpBps`
///        from the anchor answer, and approvals a change of reporters or settings needs;
///        `quorum <= jumpQuorum <= n - f`, so `f` silent reporters never block it and at least
///        `f + 1` honest reporters stand behind it. Together: `n >= 3f + 1`;
///      - `maxJumpBps`: the largest distance, in basis points of the anchor answer, at which a
///        round's median finalises at `quorum` (0: every move away from the anchor needs
///        `jumpQuorum`);
///      - `heartbeat`: seconds after which the latest answer counts as stale (more than 0); the
///        feeders post at least this often, and consumers compare it with `updatedAt`;
///      - `jumpWindow`: seconds after which the anchor follows the answers of rounds finalised
///        at `quorum` (more than 0): without `jumpQuorum` behind a round, the feed moves at most
///        `maxJumpBps` per `jumpWindow`;
///      - `minAnswer`, `maxAnswer`: inclusive bounds on every submitted answer, in the feed's
///        decimals (`0 < minAnswer < maxAnswer`). `int128` rather than Chainlink's `int192`, so an
///        answer packs with its round id and both timestamps into one storage word: 1.7e38 is
///        still 1.7e20 whole units at 18 decimals.
struct OracleConfig {
    uint8 maxFaults;
    uint8 quorum;
    uint8 jumpQuorum;
    uint16 maxJumpBps;
    uint32 heartbeat;
    uint32 jumpWindow;
    int128 minAnswer;
    int128 maxAnswer;
}

/// @notice Where a round stands. Derived from the open round's word, never stored per round.
/// @dev `None`: nobody has submitted (every round after the open one is `None`). `Collecting`:
///      reports are coming in, not yet `quorum` of them. `AwaitingConfirmation`: the median of
///      the first `quorum` was more than `maxJumpBps` from the anchor; the round waits for
///      `jumpQuorum`. `Final`: the round has its answer, which never changes.
enum RoundState {
    None,
    Collecting,
    AwaitingConfirmation,
    Final
}

/// @title IPriceOracle
/// @notice One price feed (one asset pair), posted by several reporters and read like a
///         Chainlink feed through {AggregatorV3Interface}.
///
///         Fault model. With `n` reporters and `f = maxFaults`, the feed tolerates `f`
///         dishonest reporters (safety: every final answer lies between two honest reports of
///         its round, whatever the dishonest ones report and in whatever order) and `f` silent
///         ones (liveness: rounds, including those that need `jumpQuorum`, and changes of the
///         reporters or settings still complete). The settings are refused unless they can
///         deliver both (see {OracleConfig}): `n >= 3f + 1`.
///
///         Rounds are numbered 1, 2, 3, ... and finalise in that order; the open round is the
///         one after the latest final round, and it is the only round that accepts reports.
///         Each reporter submits one answer per round. The round's answer is the median of its
///         reports: at `quorum` (odd) the middle one; at `jumpQuorum`, if that is even, the mean
///         of the middle two. Either lies between two honest reports, since a round finalises
///         with at least `2f + 1` of them.
///
///         Anchor. A round's median is compared with the anchor answer, not with the previous
///         round: if it is more than `maxJumpBps` from it, the round waits for `jumpQuorum`
///         reports (event `JumpDetected`) and then finalises with the median of all of them. The
///         anchor moves to a round's answer when that round finalised with `jumpQuorum` reports,
///         or when the anchor was older than `jumpWindow` seconds when the round finalised. So
///         nobody walks the price step by step: without broad confirmation it moves at most
///         `maxJumpBps` per `jumpWindow`. The first round has no anchor to compare with; it
///         finalises at `quorum` and becomes the first anchor.
///
///         Governance. There is no admin: nobody can set or correct a price. The reporters and
///         the settings change only by the reporters' own k-of-n with `k = jumpQuorum`: one
///         reporter proposes a complete reporter list and config, the others approve on-chain,
///         and the `jumpQuorum`-th approval applies it. A proposal's id binds its contents and
///         the change nonce, which every applied change increments, so approvals never carry
///         over to another change. Applying a change discards the open round's reports (the
///         reporters may differ); the round restarts under the same id. A final round never
///         changes. Beyond the model, more than `f` reporters lost for good: rounds at `quorum`
///         go on while `quorum` reporters remain (the anchor following at most `maxJumpBps` per
///         `jumpWindow`), but larger moves and changes of the reporters need `jumpQuorum` of them.
/// @dev Answers are integers in the feed's `decimals()` (8 for a USD price, as Chainlink's).
///      The mean of two middle answers rounds toward zero. `startedAt` is the time of a round's
///      first report (after the last change applied during it), `updatedAt` the time it
///      finalised, and `answeredInRound` is always the round itself. Each report of every round
///      is in its `AnswerSubmitted` event; the contract keeps only the open round's reports.
interface IPriceOracle is AggregatorV3Interface {
    /// @notice Chainlink's event: `startedBy` made the first report of `roundId` at `startedAt`.
    ///         Emitted again for the same round when a change discarded its earlier reports.
    event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);

    /// @notice Chainlink's event: `roundId` finalised with the answer `current` at `updatedAt`.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    /// @notice `reporter` submitted `answer` for `roundId`.
    event AnswerSubmitted(uint80 indexed roundId, address indexed reporter, int256 answer);

    /// @notice The median of the first `submissions` answers of `roundId` is more than
    ///         `maxJumpBps` from the anchor answer `anchorAnswer`; the round now waits for
    ///         `jumpQuorum` submissions.
    event JumpDetected(
        uint80 indexed roundId, int256 median, int256 anchorAnswer, uint256 submissions, uint256 jumpQuorum
    );

    /// @notice `roundId` is final with `answer`, the median of its `submissions` answers.
    event RoundFinalised(uint80 indexed roundId, int256 answer, uint256 submissions);

    /// @notice The anchor is now final round `roundId`, whose answer is `answer`.
    event AnchorMoved(uint80 indexed roundId, int256 answer);

    /// @notice The settings are now `config` (emitted at deployment too).
    event ConfigSet(OracleConfig config);

    /// @notice The reporters are now `reporters`, in index order (emitted at deployment too).
    event ReportersSet(address[] reporters);

    /// @notice `proposer` proposed change `id`: `reporters` and `config`, under change nonce
    ///         `nonce`. The proposal counts as the proposer's approval.
    event ChangeProposed(
        bytes32 indexed id, address indexed proposer, uint64 nonce, address[] reporters, OracleConfig config
    );

    /// @notice `reporter` approved change `id`, which now has `approvals` of the `required`.
    event ChangeApproved(bytes32 indexed id, address indexed reporter, uint256 approvals, uint256 required);

    /// @notice Change `id` is applied; the change nonce is now `nonce`.
    event ChangeApplied(bytes32 indexed id, uint64 nonce);

    /// @notice A change discarded the `submissions` reports of the open round `roundId`, which
    ///         restarts under the same id.
    event OpenRoundCleared(uint80 indexed roundId, uint256 submissions);

    /// @notice No final answer for `roundId`: the round is still open, was never started, or (for
    ///         `latestRoundData`, with `roundId` 0) no round has finalised yet. Read `openRound()`:
    ///         rounds before it are final.
    error OracleNoData(uint80 roundId);

    /// @notice Only the open round `expected` accepts reports (and only its reports are kept),
    ///         not `given`: either `given` finalised meanwhile (another reporter completed it) or
    ///         it is not open yet. Read `openRound()` and use that round.
    error OracleWrongRound(uint80 expected, uint80 given);

    /// @notice `account` is not one of the reporters: it cannot submit, propose or approve.
    error OracleNotReporter(address account);

    /// @notice `reporter` already submitted for `roundId`; an answer cannot be changed.
    error OracleAlreadyReported(uint80 roundId, address reporter);

    /// @notice A price must be positive; `answer` is not. Check the reporter's price source.
    error OracleAnswerNotPositive(int256 answer);

    /// @notice `answer` lies outside the plausible range [`minAnswer`, `maxAnswer`]: the source is
    ///         wrong, or the range needs widening by a change the reporters approve.
    error OracleAnswerOutOfBounds(int256 answer, int128 minAnswer, int128 maxAnswer);

    /// @notice `maxFaults` must be at least 1: a feed that tolerates no fault is one reporter.
    error OracleMaxFaultsInvalid(uint8 maxFaults);

    /// @notice `quorum` must be odd, so the answer at `quorum` is one report, not a mean.
    error OracleQuorumEven(uint8 quorum);

    /// @notice `quorum` must be at least `2 * maxFaults + 1`, so the median of `quorum` reports
    ///         lies between honest ones however `maxFaults` dishonest reporters answer.
    error OracleQuorumTooSmall(uint8 quorum, uint8 maxFaults);

    /// @notice Needs `quorum <= jumpQuorum <= reporters - maxFaults`: above that, `maxFaults`
    ///         silent reporters would stall every large move and every change. Add reporters or
    ///         lower the quorums.
    error OracleJumpQuorumInvalid(uint8 jumpQuorum, uint8 quorum, uint256 reporters, uint8 maxFaults);

    /// @notice `count` reporters, more than the `max` a round's bitmap holds.
    error OracleTooManyReporters(uint256 count, uint256 max);

    /// @notice The reporter at `index` of the list is the zero address.
    error OracleReporterZeroAddress(uint256 index);

    /// @notice `reporter` appears twice in the list: it would count twice.
    error OracleReporterDuplicate(address reporter);

    /// @notice Needs `0 < minAnswer < maxAnswer`.
    error OracleBoundsInvalid(int128 minAnswer, int128 maxAnswer);

    /// @notice Needs a heartbeat of at least one second.
    error OracleHeartbeatInvalid(uint32 heartbeat);

    /// @notice Needs a jump window of at least one second.
    error OracleJumpWindowInvalid(uint32 jumpWindow);

    /// @notice Change `id` was already proposed under the current nonce: approve it instead.
    error OracleChangeAlreadyProposed(bytes32 id);

    /// @notice No change `id` was proposed. Ids come from `ChangeProposed` events.
    error OracleChangeUnknown(bytes32 id);

    /// @notice Change `id` was proposed under change nonce `nonce`, but another change has been
    ///         applied since (the nonce is `currentNonce`): propose it again if still wanted.
    error OracleChangeStale(bytes32 id, uint64 nonce, uint64 currentNonce);

    /// @notice `reporter` already approved change `id`.
    error OracleChangeAlreadyApproved(bytes32 id, address reporter);

    // ------------------------------------------------------------------ Chainlink's reads

    /// @notice Decimals of every answer, as set at deployment.
    function decimals() external view override returns (uint8);

    /// @notice The pair, e.g. "EUR / USD", as set at deployment.
    function description() external view override returns (string memory);

    /// @notice Version of this oracle's code: 2 (1 had an admin and compared with the previous round).
    function version() external view override returns (uint256);

    /// @notice Final round `_roundId`: its median `answer`, `startedAt` (first report),
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

    /// @notice The most reporters a feed can have (the open round's bitmap has this many bits);
    ///         the finalising submission reads and sorts at most this many answers.
    function MAX_REPORTERS() external view returns (uint256);

    /// @notice Submits the caller's `answer` for `roundId`, which must be the open round.
    ///         Reporters only; once per reporter and round; `answer` positive and within bounds.
    ///         Finalises the round when this report completes its quorum (see the anchor rule).
    function submit(uint80 roundId, int256 answer) external;

    /// @notice Proposes that the reporters become `reporters` (in this index order) and the
    ///         settings `config`; counts as the caller's approval. Reporters only. The proposal
    ///         is validated now (the errors of {OracleConfig}'s rules and of the list).
    /// @return id keccak256(abi.encode(changeNonce(), reporters, config)).
    function propose(address[] calldata reporters, OracleConfig calldata config) external returns (bytes32 id);

    /// @notice Approves change `id`. Reporters only, once each, while the change nonce is the
    ///         one it was proposed under. The `jumpQuorum`-th approval applies the change.
    /// @return applied True when this approval applied the change.
    function approve(bytes32 id) external returns (bool applied);

    /// @notice The current settings.
    function config() external view returns (OracleConfig memory);

    /// @notice The reporters, in index order.
    function reporters() external view returns (address[] memory);

    /// @notice True when `account` is a reporter.
    function isReporter(address account) external view returns (bool);

    /// @notice How many changes have been applied; proposals bind the current value.
    function changeNonce() external view returns (uint64);

    /// @notice Change `id`: its reporters and config, the change nonce it was proposed under, and
    ///         its approvals as a bitmap (bit `i`: the reporter at index `i` of the reporters in
    ///         force under that nonce approved). Reverts with `OracleChangeUnknown` for an id never
    ///         proposed.
    function proposal(bytes32 id)
        external
        view
        returns (address[] memory reporters, OracleConfig memory config, uint64 nonce, uint256 approvals);

    /// @notice The only round that accepts reports: the latest final round plus one.
    function openRound() external view returns (uint80);

    /// @notice Where `roundId` stands.
    function roundState(uint80 roundId) external view returns (RoundState);

    /// @notice The answers submitted for the open round so far, in submission order. Only the
    ///         open round's answers are stored; reverts with `OracleWrongRound` for any other
    ///         `roundId` (a past round's answers are in its `AnswerSubmitted` events).
    function submissionsOf(uint80 roundId) external view returns (int256[] memory);

    /// @notice True when `reporter` has submitted for `roundId`, which must be the open round
    ///         (`OracleWrongRound` otherwise, as for {submissionsOf}).
    function hasReported(uint80 roundId, address reporter) external view returns (bool);

    /// @notice The anchor: the final round large moves are measured from, its answer and its
    ///         `updatedAt`. All zero before the first round finalises.
    function anchor() external view returns (uint80 roundId, int256 answer, uint256 updatedAt);

    /// @notice True when no round has finalised yet, or the latest final answer is older than
    ///         the heartbeat.
    function isStale() external view returns (bool);
}
