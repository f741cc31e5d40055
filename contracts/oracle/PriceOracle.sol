// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IPriceOracle, OracleConfig, RoundState} from "../interfaces/IPriceOracle.sol";

/// @title PriceOracle
/// @notice A multi-reporter, median-of-reports price feed readable as a Chainlink feed, that
///         tolerates `maxFaults` dishonest and `maxFaults` silent reporters. See {IPriceOracle}.
/// @dev Key concepts:
///      - No roles. A reporter is an address in `_reporters`; `_indexPlusOne` maps it to its
///        index plus one (0: not a reporter), which is its bit in the open round's and in a
///        proposal's bitmap. The list and the settings change only in {_apply}, reached by the
///        `jumpQuorum`-th approval of a proposal that binds the current change nonce.
///      - Storage reused from round to round. The open round lives in one word (`_open`: its
///        id, start, number of reports, reporter bitmap, jump flag and the anchor's round id);
///        its answers in a fixed array (`_answers`, two to a word, in submission order) that
///        every round overwrites. So a steady-state report writes nonzero words only, and a
///        final round costs one new word (`_rounds`, for {getRoundData}) plus the packed
///        `_latest` word that {latestRoundData} reads. A past round's individual answers are
///        in its `AnswerSubmitted` events only.
///      - Sizes. Round ids are stored as `uint48` (2.8e14 rounds: nine million years at one a
///        second), timestamps as `uint40` (good until the year 36812), answers as `int128`.
///
///      Invariants (tested in tests/contracts/test_price_oracle.py):
///      - rounds `1 .. openRound() - 1` are final and every later round is not; `latestRoundData()`
///        equals `getRoundData(openRound() - 1)`; a final round never changes, and no round but
///        the open one accepts a report;
///      - each reporter submits at most once per round (the bitmap), so a round holds at most
///        `reporters().length <= MAX_REPORTERS` answers, and `popcount(reported) == submissions`;
///      - a final answer is the median of its round's `quorum` or `jumpQuorum` reports, hence lies
///        between two honest reports when at most `maxFaults` reporters lie (`quorum >= 2f + 1`);
///      - a final answer more than `maxJumpBps` from the anchor has `jumpQuorum` reports behind it;
///        the anchor moves only to a round with `jumpQuorum` reports or when it is older than
///        `jumpWindow`, so rounds at `quorum` stay within `maxJumpBps` of an anchor that moves at
///        most once per `jumpWindow`;
///      - the config in force always satisfies {_validate} for the reporters in force; nobody
///        changes either, or any answer, except `jumpQuorum` reporters approving one proposal.
contract PriceOracle is IPriceOracle {
    /// @inheritdoc IPriceOracle
    uint256 public constant MAX_REPORTERS = 32;
    /// @inheritdoc IPriceOracle
    uint256 public constant version = 2;

    uint256 private constant _BPS = 10_000;

    /// @dev The open round, in one word: rewritten (nonzero to nonzero) by every report.
    ///      `anchorRoundId` is 0 until the first round finalises.
    struct OpenRound {
        uint48 roundId;
        uint40 startedAt;
        uint8 submissions;
        uint32 reported;
        bool jumpPending;
        uint48 anchorRoundId;
    }

    /// @dev The latest final round, in one word: what {latestRoundData} returns.
    struct Latest {
        uint48 roundId;
        int128 answer;
        uint40 startedAt;
        uint40 updatedAt;
    }

    /// @dev A final round, in one word (`updatedAt != 0`).
    struct Round {
        int128 answer;
        uint40 startedAt;
        uint40 updatedAt;
    }

    /// @dev A proposed change. `reporters` is never empty for a proposal that exists (a valid
    ///      list has at least `3 * maxFaults + 1` entries); bit `i` of `approvals` is the
    ///      reporter at index `i` under change nonce `nonce`.
    struct Proposal {
        uint64 nonce;
        uint32 approvals;
        OracleConfig config;
        address[] reporters;
    }

    /// @inheritdoc IPriceOracle
    uint8 public immutable decimals;

    string private _description;
    OpenRound private _open;
    Latest private _latest;
    OracleConfig private _config;
    int128[MAX_REPORTERS] private _answers;
    mapping(address reporter => uint256) private _indexPlusOne;
    address[] private _reporters;
    uint64 private _changeNonce;
    mapping(uint256 roundId => Round) private _rounds;
    mapping(bytes32 id => Proposal) private _proposals;

    /// @param description_ The pair, e.g. "EUR / USD".
    /// @param decimals_ Decimals of every answer (8, as Chainlink's USD feeds).
    /// @param reporters_ The initial reporters, in index order.
    /// @param config_ The initial settings; validated against `reporters_` as any change is.
    constructor(string memory description_, uint8 decimals_, address[] memory reporters_, OracleConfig memory config_) {
        _validate(reporters_, config_);
        _description = description_;
        decimals = decimals_;
        _open.roundId = 1;
        _setReporters(reporters_);
        _config = config_;
        emit ConfigSet(config_);
    }

    // ------------------------------------------------------------------ reporting

    /// @inheritdoc IPriceOracle
    function submit(uint80 roundId, int256 answer) external {
        uint32 bit = _bitOf(msg.sender);
        OpenRound memory open = _open;
        if (roundId != open.roundId) revert OracleWrongRound(open.roundId, roundId);
        if (open.reported & bit != 0) revert OracleAlreadyReported(roundId, msg.sender);
        if (answer <= 0) revert OracleAnswerNotPositive(answer);
        OracleConfig memory config_ = _config;
        if (answer < config_.minAnswer || answer > config_.maxAnswer) {
            revert OracleAnswerOutOfBounds(answer, config_.minAnswer, config_.maxAnswer);
        }

        uint8 position = open.submissions;
        // position < MAX_REPORTERS: one report per reporter (the bitmap), at most MAX_REPORTERS of them.
        _answers[position] = int128(answer); // within [minAnswer, maxAnswer], both int128
        unchecked {
            // position < MAX_REPORTERS (above), so position + 1 fits in a uint8.
            open.submissions = position + 1;
        }
        open.reported |= bit;
        if (position == 0) {
            open.startedAt = uint40(block.timestamp);
            emit NewRound(roundId, msg.sender, block.timestamp);
        }
        emit AnswerSubmitted(roundId, msg.sender, answer);
        _evaluate(open, config_);
        _open = open;
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IPriceOracle
    function propose(address[] calldata reporters_, OracleConfig calldata config_) external returns (bytes32 id) {
        uint32 bit = _bitOf(msg.sender);
        _validate(reporters_, config_);
        uint64 nonce = _changeNonce;
        id = keccak256(abi.encode(nonce, reporters_, config_));
        Proposal storage proposal_ = _proposals[id];
        if (proposal_.reporters.length != 0) revert OracleChangeAlreadyProposed(id);
        proposal_.nonce = nonce;
        proposal_.config = config_;
        proposal_.reporters = reporters_;
        emit ChangeProposed(id, msg.sender, nonce, reporters_, config_);
        _approve(id, proposal_, bit);
    }

    /// @inheritdoc IPriceOracle
    function approve(bytes32 id) external returns (bool applied) {
        uint32 bit = _bitOf(msg.sender);
        Proposal storage proposal_ = _proposals[id];
        if (proposal_.reporters.length == 0) revert OracleChangeUnknown(id);
        uint64 nonce = _changeNonce;
        if (proposal_.nonce != nonce) revert OracleChangeStale(id, proposal_.nonce, nonce);
        return _approve(id, proposal_, bit);
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
    function reporters() external view returns (address[] memory) {
        return _reporters;
    }

    /// @inheritdoc IPriceOracle
    function isReporter(address account) external view returns (bool) {
        return _indexPlusOne[account] != 0;
    }

    /// @inheritdoc IPriceOracle
    function changeNonce() external view returns (uint64) {
        return _changeNonce;
    }

    /// @inheritdoc IPriceOracle
    function proposal(bytes32 id)
        external
        view
        returns (address[] memory reporters_, OracleConfig memory config_, uint64 nonce, uint256 approvals)
    {
        Proposal storage proposal_ = _proposals[id];
        if (proposal_.reporters.length == 0) revert OracleChangeUnknown(id);
        return (proposal_.reporters, proposal_.config, proposal_.nonce, proposal_.approvals);
    }

    /// @inheritdoc IPriceOracle
    function openRound() external view returns (uint80) {
        return _open.roundId;
    }

    /// @inheritdoc IPriceOracle
    function roundState(uint80 roundId) external view returns (RoundState) {
        OpenRound memory open = _open;
        if (roundId == 0 || roundId > open.roundId) return RoundState.None;
        if (roundId < open.roundId) return RoundState.Final;
        if (open.jumpPending) return RoundState.AwaitingConfirmation;
        if (open.submissions != 0) return RoundState.Collecting;
        return RoundState.None;
    }

    /// @inheritdoc IPriceOracle
    function submissionsOf(uint80 roundId) external view returns (int256[] memory answers) {
        OpenRound memory open = _open;
        if (roundId != open.roundId) revert OracleWrongRound(open.roundId, roundId);
        answers = new int256[](open.submissions);
        for (uint256 i = 0; i < answers.length; ++i) {
            answers[i] = _answers[i];
        }
    }

    /// @inheritdoc IPriceOracle
    function hasReported(uint80 roundId, address reporter) external view returns (bool) {
        OpenRound memory open = _open;
        if (roundId != open.roundId) revert OracleWrongRound(open.roundId, roundId);
        uint256 index = _indexPlusOne[reporter];
        // index - 1 < MAX_REPORTERS = 32, so the shift stays within a uint32.
        return index != 0 && open.reported & uint32(1 << (index - 1)) != 0;
    }

    /// @inheritdoc IPriceOracle
    function anchor() external view returns (uint80 roundId, int256 answer, uint256 updatedAt) {
        roundId = _open.anchorRoundId;
        if (roundId == 0) return (0, 0, 0);
        Round memory round = _rounds[roundId];
        return (roundId, round.answer, round.updatedAt);
    }

    /// @inheritdoc IPriceOracle
    function isStale() external view returns (bool) {
        Latest memory latest = _latest;
        return latest.roundId == 0 || block.timestamp - latest.updatedAt > _config.heartbeat;
    }

    // ------------------------------------------------------------------ rounds

    /// @dev Finalises `open` when its answers meet the rules: `quorum` answers whose median is
    ///      within `maxJumpBps` of the anchor (or no anchor yet: the first round), or else
    ///      `jumpQuorum` answers. Once a jump is detected the round waits for `jumpQuorum`,
    ///      however later answers fall. A round reaches `jumpQuorum` at the latest by its
    ///      `jumpQuorum`-th report, since a change of settings restarts the round.
    function _evaluate(OpenRound memory open, OracleConfig memory config_) private {
        uint8 count = open.submissions;
        if (count < config_.quorum) return;
        if (open.jumpPending) {
            if (count >= config_.jumpQuorum) _finalise(open, _median(count), true);
            return;
        }
        int128 median = _median(count);
        if (open.anchorRoundId == 0) {
            _finalise(open, median, true);
            return;
        }
        Round memory anchor_ = _rounds[open.anchorRoundId];
        if (count >= config_.jumpQuorum) {
            _finalise(open, median, true);
        } else if (_withinJump(median, anchor_.answer, config_.maxJumpBps)) {
            // The anchor's updatedAt is in the past, so the subtraction cannot underflow.
            _finalise(open, median, block.timestamp - anchor_.updatedAt > config_.jumpWindow);
        } else {
            open.jumpPending = true;
            emit JumpDetected(open.roundId, median, anchor_.answer, count, config_.jumpQuorum);
        }
    }

    /// @dev Records the open round as final with `answer`, moves the anchor to it when
    ///      `moveAnchor`, and turns `open` into the next round (the caller writes it back).
    function _finalise(OpenRound memory open, int128 answer, bool moveAnchor) private {
        uint48 roundId = open.roundId;
        uint40 now_ = uint40(block.timestamp);
        _rounds[roundId] = Round(answer, open.startedAt, now_);
        _latest = Latest(roundId, answer, open.startedAt, now_);
        emit AnswerUpdated(answer, roundId, block.timestamp);
        emit RoundFinalised(roundId, answer, open.submissions);
        if (moveAnchor) {
            open.anchorRoundId = roundId;
            emit AnchorMoved(roundId, answer);
        }
        unchecked {
            // 2**48 - 1 rounds would take nine million years at one a second (see the header).
            open.roundId = roundId + 1;
        }
        open.startedAt = 0;
        open.submissions = 0;
        open.reported = 0;
        open.jumpPending = false;
    }

    /// @dev True when `median` is at most `maxJumpBps` of `anchorAnswer` away from it. Both are
    ///      positive int128s, so the products below stay under 2**143.
    function _withinJump(int128 median, int128 anchorAnswer, uint16 maxJumpBps) private pure returns (bool) {
        uint256 move =
            median > anchorAnswer ? uint256(int256(median - anchorAnswer)) : uint256(int256(anchorAnswer - median));
        return move * _BPS <= uint256(int256(anchorAnswer)) * maxJumpBps;
    }

    /// @dev Median of the open round's first `count` answers (count >= 1): insertion sort in
    ///      memory (count <= MAX_REPORTERS), then the middle one, or the mean of the middle two
    ///      rounded toward zero.
    function _median(uint256 count) private view returns (int128) {
        int128[] memory sorted = new int128[](count);
        for (uint256 i = 0; i < count; ++i) {
            int128 value = _answers[i];
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

    // ------------------------------------------------------------------ reporters and changes

    /// @dev The bit of reporter `account` in the round and proposal bitmaps; reverts for anyone else.
    function _bitOf(address account) private view returns (uint32) {
        uint256 index = _indexPlusOne[account];
        if (index == 0) revert OracleNotReporter(account);
        // index - 1 < MAX_REPORTERS = 32 (checked by {_validate}), so the shift fits in a uint32.
        return uint32(1 << (index - 1));
    }

    /// @dev Adds the approval `bit` to `proposal_` and applies it at `jumpQuorum` approvals.
    function _approve(bytes32 id, Proposal storage proposal_, uint32 bit) private returns (bool applied) {
        uint32 approvals = proposal_.approvals;
        if (approvals & bit != 0) revert OracleChangeAlreadyApproved(id, msg.sender);
        approvals |= bit;
        proposal_.approvals = approvals;
        uint256 count = _popcount(approvals);
        uint256 required = _config.jumpQuorum;
        emit ChangeApproved(id, msg.sender, count, required);
        if (count < required) return false;
        _apply(id, proposal_);
        return true;
    }

    /// @dev Installs the proposal's reporters and settings, bumps the change nonce (so every
    ///      other proposal goes stale) and restarts the open round without its reports: they
    ///      were counted under the old reporters and settings. The anchor stays.
    function _apply(bytes32 id, Proposal storage proposal_) private {
        uint64 nonce = _changeNonce + 1;
        _changeNonce = nonce;
        address[] storage old = _reporters;
        for (uint256 i = 0; i < old.length; ++i) {
            delete _indexPlusOne[old[i]];
        }
        emit ChangeApplied(id, nonce);
        _setReporters(proposal_.reporters);
        OracleConfig memory config_ = proposal_.config;
        _config = config_;
        emit ConfigSet(config_);
        OpenRound memory open = _open;
        if (open.submissions != 0) emit OpenRoundCleared(open.roundId, open.submissions);
        _open = OpenRound(open.roundId, 0, 0, 0, false, open.anchorRoundId);
    }

    /// @dev Makes `list` the reporters, index `i` at bit `i`. `list` was validated.
    function _setReporters(address[] memory list) private {
        _reporters = list;
        for (uint256 i = 0; i < list.length; ++i) {
            _indexPlusOne[list[i]] = i + 1;
        }
        emit ReportersSet(list);
    }

    /// @dev Refuses a reporter list and config that cannot tolerate `maxFaults` dishonest and
    ///      `maxFaults` silent reporters (see {OracleConfig}), or that is malformed.
    function _validate(address[] memory list, OracleConfig memory config_) private pure {
        uint256 count = list.length;
        if (count > MAX_REPORTERS) revert OracleTooManyReporters(count, MAX_REPORTERS);
        for (uint256 i = 0; i < count; ++i) {
            address reporter = list[i];
            if (reporter == address(0)) revert OracleReporterZeroAddress(i);
            for (uint256 j = 0; j < i; ++j) {
                if (list[j] == reporter) revert OracleReporterDuplicate(reporter);
            }
        }
        uint256 faults = config_.maxFaults;
        if (faults == 0) revert OracleMaxFaultsInvalid(config_.maxFaults);
        if (config_.quorum % 2 == 0) revert OracleQuorumEven(config_.quorum);
        if (config_.quorum < 2 * faults + 1) revert OracleQuorumTooSmall(config_.quorum, config_.maxFaults);
        if (config_.jumpQuorum < config_.quorum || config_.jumpQuorum + faults > count) {
            revert OracleJumpQuorumInvalid(config_.jumpQuorum, config_.quorum, count, config_.maxFaults);
        }
        if (config_.minAnswer <= 0 || config_.minAnswer >= config_.maxAnswer) {
            revert OracleBoundsInvalid(config_.minAnswer, config_.maxAnswer);
        }
        if (config_.heartbeat == 0) revert OracleHeartbeatInvalid(config_.heartbeat);
        if (config_.jumpWindow == 0) revert OracleJumpWindowInvalid(config_.jumpWindow);
    }

    /// @dev Number of set bits of `bits` (at most 32).
    function _popcount(uint32 bits) private pure returns (uint256 count) {
        unchecked {
            // bits != 0 in the loop, so bits - 1 does not wrap; count <= 32.
            while (bits != 0) {
                bits &= bits - 1;
                ++count;
            }
        }
    }
}
