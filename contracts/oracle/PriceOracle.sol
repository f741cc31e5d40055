// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IPriceOracle, OracleConfig, RoundState} from "../interfaces/IPriceOracle.sol";

/// @title PriceOracle
/// @notice A multi-reporter, median-of-quorum price feed readable as a Chainlink feed. See {IPriceOracle}.
/// @dev Roles: `DEFAULT_ADMIN_ROLE` grants and revokes `REPORTER_ROLE` and sets the config (hand
///      it to a multisig); `REPORTER_ROLE` submits answers. No role can write an answer.
///
///      Storage: `_latest` packs the latest final round (id, answer, both timestamps) into one
///      word, so {latestRoundData} costs one storage read; every round keeps its own packed word
///      for {getRoundData}. Round ids are stored as `uint48` (2.8e14 rounds: nine million years at
///      one a second) and timestamps as `uint40` (good until the year 36812). A round's answers
///      sit in a fixed array, two to a word, with the count in the round's word.
///
///      Invariants (tested in tests/contracts/test_price_oracle.py):
///      - rounds `1 .. openRound() - 1` are final and every later round is not; `latestRoundData()`
///        equals `getRoundData(openRound() - 1)`;
///      - a final round never changes, and no round but the open one accepts a submission;
///      - each reporter submits at most once per round; a round holds at most `MAX_QUORUM` answers;
///      - a final answer is the median of its round's answers (all of them), so it lies between
///        their minimum and maximum, hence within the bounds they were checked against;
///      - a final answer more than `maxJumpBps` away from the previous one has at least
///        `jumpQuorum` answers behind it (under the config in force when it finalised).
contract PriceOracle is IPriceOracle, AccessControl {
    /// @inheritdoc IPriceOracle
    bytes32 public constant REPORTER_ROLE = keccak256("REPORTER_ROLE");
    /// @inheritdoc IPriceOracle
    uint8 public constant MAX_QUORUM = 32;
    /// @inheritdoc IPriceOracle
    uint256 public constant version = 1;

    uint256 private constant _BPS = 10_000;

    /// @dev The latest final round, in one word: what {latestRoundData} returns.
    struct Latest {
        uint48 roundId;
        int128 answer;
        uint40 startedAt;
        uint40 updatedAt;
    }

    /// @dev One round, in one word. `startedAt != 0` once it has a submission, `updatedAt != 0`
    ///      once final; `jumpPending` while it waits for `jumpQuorum`.
    struct Round {
        int128 answer;
        uint40 startedAt;
        uint40 updatedAt;
        uint8 submissions;
        bool jumpPending;
    }

    /// @inheritdoc IPriceOracle
    uint8 public immutable decimals;

    string private _description;
    Latest private _latest;
    OracleConfig private _config;
    mapping(uint256 roundId => Round) private _rounds;
    mapping(uint256 roundId => int128[MAX_QUORUM]) private _answers;
    mapping(uint256 roundId => mapping(address reporter => bool)) private _reported;

    /// @param description_ The pair, e.g. "EUR / USD".
    /// @param decimals_ Decimals of every answer (8, as Chainlink's USD feeds).
    /// @param admin Holder of `DEFAULT_ADMIN_ROLE`.
    /// @param config_ The initial settings.
    constructor(string memory description_, uint8 decimals_, address admin, OracleConfig memory config_) {
        if (admin == address(0)) revert OracleZeroAddress();
        _description = description_;
        decimals = decimals_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setConfig(config_);
    }

    // ------------------------------------------------------------------ reporting

    /// @inheritdoc IPriceOracle
    function submit(uint80 roundId, int256 answer) external onlyRole(REPORTER_ROLE) {
        Latest memory latest = _latest;
        uint80 open = _openRound(latest);
        if (roundId != open) revert OracleWrongRound(open, roundId);
        if (_reported[roundId][msg.sender]) revert OracleAlreadyReported(roundId, msg.sender);
        if (answer <= 0) revert OracleAnswerNotPositive(answer);
        OracleConfig memory config_ = _config;
        if (answer < config_.minAnswer || answer > config_.maxAnswer) {
            revert OracleAnswerOutOfBounds(answer, config_.minAnswer, config_.maxAnswer);
        }

        Round memory round = _rounds[roundId];
        _record(roundId, round, int128(answer)); // within [minAnswer, maxAnswer], both int128
        _evaluate(roundId, round, latest, config_);
        _rounds[roundId] = round;
    }

    // ------------------------------------------------------------------ admin

    /// @inheritdoc IPriceOracle
    function setConfig(OracleConfig calldata config_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setConfig(config_);
    }

    // ------------------------------------------------------------------ Chainlink reads

    /// @inheritdoc IPriceOracle
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc IPriceOracle
    function latestRoundData()
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Latest memory latest = _latest;
        if (latest.roundId == 0) revert OracleNoData(0);
        return (latest.roundId, latest.answer, latest.startedAt, latest.updatedAt, latest.roundId);
    }

    /// @inheritdoc IPriceOracle
    function getRoundData(uint80 roundId_)
        external
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        Round memory round = _rounds[roundId_];
        if (round.updatedAt == 0) revert OracleNoData(roundId_);
        return (roundId_, round.answer, round.startedAt, round.updatedAt, roundId_);
    }

    // ------------------------------------------------------------------ our reads

    /// @inheritdoc IPriceOracle
    function config() external view returns (OracleConfig memory) {
        return _config;
    }

    /// @inheritdoc IPriceOracle
    function openRound() external view returns (uint80) {
        return _openRound(_latest);
    }

    /// @inheritdoc IPriceOracle
    function roundState(uint80 roundId) external view returns (RoundState) {
        Round memory round = _rounds[roundId];
        if (round.updatedAt != 0) return RoundState.Final;
        if (round.jumpPending) return RoundState.AwaitingConfirmation;
        if (round.startedAt != 0) return RoundState.Collecting;
        return RoundState.None;
    }

    /// @inheritdoc IPriceOracle
    function submissionsOf(uint80 roundId) external view returns (int256[] memory answers) {
        uint256 count = _rounds[roundId].submissions;
        int128[MAX_QUORUM] storage stored = _answers[roundId];
        answers = new int256[](count);
        for (uint256 i = 0; i < count; ++i) {
            answers[i] = stored[i];
        }
    }

    /// @inheritdoc IPriceOracle
    function hasReported(uint80 roundId, address reporter) external view returns (bool) {
        return _reported[roundId][reporter];
    }

    /// @inheritdoc IPriceOracle
    function isStale() external view returns (bool) {
        Latest memory latest = _latest;
        return latest.roundId == 0 || block.timestamp - latest.updatedAt > _config.heartbeat;
    }

    // ------------------------------------------------------------------ internals

    function _openRound(Latest memory latest) private pure returns (uint80) {
        unchecked {
            // A uint48 plus one fits in a uint80.
            return uint80(latest.roundId) + 1;
        }
    }

    /// @dev Stores the caller's answer in `round` (memory; the caller writes it back).
    function _record(uint80 roundId, Round memory round, int128 answer) private {
        uint8 index = round.submissions;
        _reported[roundId][msg.sender] = true;
        // index < MAX_QUORUM: a round finalises by its `jumpQuorum`-th submission at the latest
        // (see {_evaluate}), and `jumpQuorum <= MAX_QUORUM`.
        _answers[roundId][index] = answer;
        unchecked {
            // index < MAX_QUORUM (above), so index + 1 fits in a uint8.
            round.submissions = index + 1;
        }
        if (index == 0) {
            round.startedAt = uint40(block.timestamp);
            emit NewRound(roundId, msg.sender, block.timestamp);
        }
        emit AnswerSubmitted(roundId, msg.sender, answer);
    }

    /// @dev Finalises `round` when its answers meet the rules: `quorum` answers whose median is
    ///      within `maxJumpBps` of the previous answer (or the first round), or else `jumpQuorum`
    ///      answers. Once a jump is detected the round waits for `jumpQuorum`, however later
    ///      answers fall. Every submission with `jumpQuorum` or more answers in finalises.
    function _evaluate(uint80 roundId, Round memory round, Latest memory latest, OracleConfig memory config_)
        private
    {
        uint8 count = round.submissions;
        if (count < config_.quorum) return;
        if (!round.jumpPending) {
            int128 median = _median(roundId, count);
            if (latest.roundId == 0 || _withinJump(median, latest.answer, config_.maxJumpBps)) {
                _finalise(roundId, round, median);
                return;
            }
            if (count >= config_.jumpQuorum) {
                _finalise(roundId, round, median);
                return;
            }
            round.jumpPending = true;
            emit JumpDetected(roundId, median, latest.answer, count, config_.jumpQuorum);
            return;
        }
        if (count >= config_.jumpQuorum) _finalise(roundId, round, _median(roundId, count));
    }

    function _finalise(uint80 roundId, Round memory round, int128 answer) private {
        round.answer = answer;
        round.updatedAt = uint40(block.timestamp);
        round.jumpPending = false;
        // roundId == _latest.roundId + 1 <= 2**48 - 1 for the next 2.8e14 rounds (see the header).
        _latest = Latest(uint48(roundId), answer, round.startedAt, round.updatedAt);
        emit AnswerUpdated(answer, roundId, block.timestamp);
        emit RoundFinalised(roundId, answer, round.submissions);
    }

    /// @dev True when `median` is at most `maxJumpBps` of `previous` away from it. Both are
    ///      positive int128s, so the products below stay under 2**143.
    function _withinJump(int128 median, int128 previous, uint16 maxJumpBps) private pure returns (bool) {
        uint256 move = median > previous ? uint256(int256(median - previous)) : uint256(int256(previous - median));
        return move * _BPS <= uint256(int256(previous)) * maxJumpBps;
    }

    /// @dev Median of the first `count` answers of `roundId` (count >= 1): insertion sort in
    ///      memory (count <= MAX_QUORUM), then the middle one, or the mean of the middle two
    ///      rounded toward zero.
    function _median(uint80 roundId, uint256 count) private view returns (int128) {
        int128[MAX_QUORUM] storage stored = _answers[roundId];
        int128[] memory sorted = new int128[](count);
        for (uint256 i = 0; i < count; ++i) {
            int128 value = stored[i];
            uint256 j = i;
            while (j > 0 && sorted[j - 1] > value) {
                sorted[j] = sorted[j - 1];
                --j;
            }
            sorted[j] = value;
        }
        uint256 mid = count / 2;
        if (count % 2 == 1) return sorted[mid];
        // Two positive int128s: their sum fits in an int256, and the mean in an int128.
        return int128((int256(sorted[mid - 1]) + int256(sorted[mid])) / 2);
    }

    function _setConfig(OracleConfig memory config_) private {
        if (config_.quorum == 0 || config_.jumpQuorum < config_.quorum || config_.jumpQuorum > MAX_QUORUM) {
            revert OracleQuorumInvalid(config_.quorum, config_.jumpQuorum, MAX_QUORUM);
        }
        if (config_.minAnswer <= 0 || config_.minAnswer >= config_.maxAnswer) {
            revert OracleBoundsInvalid(config_.minAnswer, config_.maxAnswer);
        }
        if (config_.heartbeat == 0) revert OracleHeartbeatInvalid(config_.heartbeat);
        _config = config_;
        emit ConfigSet(config_);
    }
}
