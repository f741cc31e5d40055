// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Arrays} from "@openzeppelin/contracts/utils/Arrays.sol";
import {LowLevelCall} from "@openzeppelin/contracts/utils/LowLevelCall.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAtomicSettlement, Instruction} from "../interfaces/IAtomicSettlement.sol";
import {IComplianceRegistry} from "../interfaces/IComplianceRegistry.sol";
import {Signatures} from "../utils/Signatures.sol";
import {
    INetting,
    Obligation,
    ObligationState,
    RoundInfo,
    RoundState,
    SignedObligation
} from "../interfaces/INetting.sol";

/// @title NettingEngine
/// @notice Multilateral netting rounds in one cash token, without a central counterparty. See {INetting}.
/// @dev Key concepts:
///      - Running nets. Registering an obligation adds its amount to the payee's net and takes it
///        from the payer's (one storage slot per member and round, which also counts the member's
///        obligations), and keeps the round's gross value and net value (sum of positive nets) up
///        to date. Verifying a submitted vector is then one pass over the members: O(members),
///        never O(obligations); obligations are never stored, only the fate of their id.
///      - Exclusion without lists. The caller of {exclude} passes the member's obligations (from
///        the events); each is re-hashed, must be Registered and name the member, and is marked
///        Removed; the member's obligation count must then be zero, so the list was complete.
///        O(the member's obligations), no per-member array in storage.
///      - No roles and no owner: any onboarded account opens a round, the parties consent to
///        their own obligations, and anyone may submit nets, settle or exclude, because the
///        contract checks everything they claim. Rounds never share state, so a bad round cannot
///        touch another.
///      - DvP cash legs. An entered instruction is locked in the settlement contract and its cash
///        leg booked as an obligation (state Delivery) with `ref` = the instruction's id; nothing
///        else is stored but the round's count of such instructions. Whoever settles, excludes
///        or releases lists the instructions (from {InstructionEntered}); each is re-hashed by
///        the settlement contract, must be a Delivery obligation of the round, and the count
///        proves the list complete: O(instructions), as for exclusions.
///      - Escrow. Pre-funding is booked per round and member (`_funded`) and in the round's total
///        (`escrowed`); settlement takes debits from it first, so a member that pre-funded needs
///        no allowance.
///      - Proven delivery failures. A settlement with instructions runs in a call to itself
///        ({settleSelf}, no guard of its own: {settle} holds it). Each delivery is a call to the
///        settlement contract with at most {DELIVERY_GAS}; a failure is kept (revert data cut to
///        {MAX_REASON_BYTES}) and the others are tried; then the inner call reverts with
///        {NettingDeliveriesFailed}, so nothing it did stays, and {settle} decodes that error
///        alone into stored failures (the cash legs' fate becomes Failed) and returns. Every
///        other revert of the inner call is raised again unchanged. The listed instructions
///        must be distinct (a sorted copy of their ids in memory): a duplicate would fail its
///        second delivery and be recorded as failed while another instruction was left out.
///
///      Invariants (tested in tests/netting/test_netting_properties.py, the DvP ones in
///      test_netting_dvp_properties.py and test_netting_failed_delivery.py):
///      - the sum of the nets of a round's members is zero at every step;
///      - each member's net equals the payee-side minus the payer-side amounts of its Registered
///        obligations; `grossValue` is the sum of those amounts; `netValue` the sum of the
///        positive nets, hence `netValue <= grossValue`;
///      - `cash.balanceOf(this) == sum over rounds of escrowed` (plus cash sent to it directly),
///        and each round's `escrowed` is the sum of its members' `_funded`;
///      - a settlement changes every member's wallet plus funding by exactly its net, and moves
///        no other cash; a failed one moves nothing;
///      - a round's `instructionCount` is the number of its Delivery and Failed obligations; a
///        settlement moves the delivery leg of each of them, and no other token; an attempt in
///        which any delivery fails moves nothing (only its failures are recorded);
///      - an obligation becomes Failed only through a delivery attempt that failed with its whole
///        {DELIVERY_GAS} available, after the round's funding deadline.
contract NettingEngine is INetting, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @inheritdoc INetting
    bytes32 public constant OBLIGATION_TYPEHASH =
        keccak256("Obligation(uint256 roundId,address payer,address payee,uint256 amount,bytes32 ref)");
    /// @inheritdoc INetting
    uint256 public constant EXPIRY_PERIOD = 7 days;
    /// @inheritdoc INetting
    uint256 public constant MAX_AMOUNT = type(uint96).max;
    /// @inheritdoc INetting
    uint256 public constant DELIVERY_GAS = 300_000;
    /// @inheritdoc INetting
    uint256 public constant MAX_REASON_BYTES = 256;

    /// @dev Gas spent between reading `gas()` before a delivery and the call receiving its share:
    ///      a cold account access at most, plus the arguments and memory (a few hundred).
    uint256 private constant CALL_OVERHEAD = 3_000;

    /// @dev Stored stage of a round; Expired is derived from the clock on top of it.
    struct Round {
        // slot 0
        address opener;
        uint40 cutoff;
        uint40 deadline;
        RoundState stage;
        // slot 1: both at most sum of amounts < 2^96 * 2^32.
        uint128 grossValue;
        uint128 netValue;
        // slot 2
        uint32 obligationCount;
        uint32 excludedCount;
        uint128 escrowed;
        uint32 instructionCount;
        // slot 3
        address[] members;
    }

    /// @dev What an exclusion found and removed (kept in memory: {exclude} has many locals).
    struct Exclusion {
        uint256 required;
        uint256 available;
        uint256 owedToOthers;
        uint256 owedByOthers;
        bool blocks;
    }

    /// @dev A member's position in one round, one slot.
    struct Position {
        int128 net;
        uint32 obligations;
        bool listed;
        bool excluded;
    }

    IComplianceRegistry public immutable registry;
    IERC20 public immutable cash;
    /// @notice The settlement contract whose DvP instructions may enter rounds (zero: none).
    IAtomicSettlement public immutable settlement;

    /// @inheritdoc INetting
    uint256 public roundCount;

    mapping(uint256 roundId => Round) private _rounds;
    mapping(uint256 roundId => mapping(address member => Position)) private _positions;
    mapping(uint256 roundId => mapping(address member => uint256)) private _funded;
    mapping(bytes32 id => ObligationState) private _obligations;

    /// @param registry_ The shared compliance registry (openers and parties must be `Active`).
    /// @param cash_ The cash token every round is in.
    /// @param settlement_ The settlement contract of the DvP instructions rounds may net (zero:
    ///        none). It must trust this contract ({IAtomicSettlement-netting}): deploy it first,
    ///        with this contract's predicted address.
    constructor(IComplianceRegistry registry_, IERC20 cash_, IAtomicSettlement settlement_)
        EIP712("NettingEngine", "1")
    {
        if (address(settlement_) != address(0) && settlement_.netting() != address(this)) {
            revert NettingSettlementMismatch(address(settlement_), settlement_.netting());
        }
        registry = registry_;
        cash = cash_;
        settlement = settlement_;
    }

    // ================================================================== rounds

    /// @inheritdoc INetting
    function openRound(uint256 cutoff, uint256 deadline) external returns (uint256 roundId) {
        registry.requireActive(msg.sender);
        if (cutoff < block.timestamp || deadline < cutoff || deadline > type(uint40).max) {
            revert NettingInvalidSchedule(cutoff, deadline, block.timestamp);
        }
        roundId = ++roundCount;
        Round storage round = _rounds[roundId];
        round.opener = msg.sender;
        round.cutoff = uint40(cutoff);
        round.deadline = uint40(deadline);
        round.stage = RoundState.Collecting;
        emit RoundOpened(roundId, msg.sender, cutoff, deadline);
    }

    /// @inheritdoc INetting
    function register(Obligation calldata obligation, bytes calldata payerSignature, bytes calldata payeeSignature)
        external
        returns (bytes32 id)
    {
        Round storage round = _collecting(obligation.roundId);
        id = _register(round, obligation, payerSignature, payeeSignature);
    }

    /// @inheritdoc INetting
    function registerBatch(SignedObligation[] calldata batch) external {
        uint256 count = batch.length;
        if (count == 0) revert NettingEmptyBatch();
        uint256 roundId = batch[0].obligation.roundId;
        Round storage round = _collecting(roundId);
        for (uint256 i; i < count; ++i) {
            SignedObligation calldata item = batch[i];
            // A batch may span rounds; each round is checked once when it changes.
            if (item.obligation.roundId != roundId) {
                roundId = item.obligation.roundId;
                round = _collecting(roundId);
            }
            _register(round, item.obligation, item.payerSignature, item.payeeSignature);
        }
    }

    /// @inheritdoc INetting
    /// @dev The settlement contract checks consent, fields, deadline and nonce, and locks the
    ///      instruction; it calls no token (ERC-1271 checks are static calls), so nothing can
    ///      re-enter between the lock and the booking, and a failed booking reverts the lock.
    function enterInstruction(
        uint256 roundId,
        Instruction calldata instruction,
        bytes calldata signatureA,
        bytes calldata signatureB
    ) external returns (bytes32 instructionId, bytes32 obligationId) {
        Round storage round = _entering(roundId, instruction);
        instructionId = settlement.lockForNetting(instruction, signatureA, signatureB, roundId);
        obligationId = _bookInstruction(round, roundId, instruction, instructionId);
    }

    /// @inheritdoc INetting
    function close(uint256 roundId) external {
        Round storage round = _round(roundId);
        _requireState(roundId, round, RoundState.Collecting);
        if (msg.sender != round.opener && block.timestamp <= round.cutoff) {
            revert NettingCutoffNotReached(roundId, msg.sender, round.cutoff, block.timestamp);
        }
        round.stage = RoundState.Closed;
        emit RoundClosed(roundId, msg.sender, round.grossValue, round.netValue);
    }

    /// @inheritdoc INetting
    /// @dev One pass: each entry is compared with the member's running net and summed. A vector
    ///      that does not sum to zero is reported as such; one that does but differs names the
    ///      first member whose entry is wrong.
    function submitNets(uint256 roundId, int256[] calldata nets) external {
        Round storage round = _round(roundId);
        _requireState(roundId, round, RoundState.Closed);
        address[] storage members = round.members;
        uint256 count = members.length;
        if (nets.length != count) revert NettingNetsLength(roundId, count, nets.length);
        mapping(address => Position) storage positions = _positions[roundId];
        int256 sum;
        uint256 firstWrong = type(uint256).max;
        for (uint256 i; i < count; ++i) {
            int256 given = nets[i];
            // No net is beyond int128, so such an entry is wrong at once; the others keep the
            // sum of at most 2^32 entries far inside int256.
            if (given > type(int128).max || given < type(int128).min) {
                revert NettingNetMismatch(roundId, members[i], positions[members[i]].net, given);
            }
            if (firstWrong == type(uint256).max && given != positions[members[i]].net) firstWrong = i;
            sum += given;
        }
        if (sum != 0) revert NettingNetsNotBalanced(roundId, sum);
        if (firstWrong != type(uint256).max) {
            address member = members[firstWrong];
            revert NettingNetMismatch(roundId, member, positions[member].net, nets[firstWrong]);
        }
        round.stage = RoundState.Verified;
        for (uint256 i; i < count; ++i) {
            if (nets[i] != 0) emit NetPosition(roundId, members[i], nets[i]);
        }
        emit NetsVerified(roundId, msg.sender, round.grossValue, round.netValue);
    }

    /// @inheritdoc INetting
    /// @dev Effects first (stage, escrow books, events), then the transfers: every debit is
    ///      pulled before any credit is paid, so the contract never pays out what it has not
    ///      received; then every delivery leg moves. A cash transfer that fails reverts the whole
    ///      settlement; failed deliveries are proven in {settleSelf} and recorded here.
    function settle(uint256 roundId, Instruction[] calldata instructions) external nonReentrant {
        Round storage round = _round(roundId);
        _requireState(roundId, round, RoundState.Verified);
        uint256 deliveries = instructions.length;
        if (deliveries != round.instructionCount) {
            revert NettingInstructionsIncomplete(roundId, round.instructionCount, deliveries);
        }
        if (deliveries == 0) {
            _settleCash(roundId, round);
            return;
        }
        // settleSelf takes settle's arguments: forward them as they came.
        if (!LowLevelCall.callNoReturn(address(this), abi.encodePacked(this.settleSelf.selector, msg.data[4:]))) {
            _recordFailures(roundId, round, instructions, LowLevelCall.returnData());
        }
    }

    /// @inheritdoc INetting
    /// @dev Each listed instruction is one of the round's, listed once (so, with the count
    ///      checked by {settle}, the list is complete); then the net cash moves and every
    ///      delivery is tried in list order.
    function settleSelf(uint256 roundId, Instruction[] calldata instructions) external {
        if (msg.sender != address(this)) revert NettingOnlySelf(msg.sender);
        uint256 count = instructions.length;
        bytes32[] memory ids = new bytes32[](count);
        bytes32[] memory sorted = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            (bytes32 instructionId, bytes32 obligationId, ObligationState fate) = _delivery(roundId, instructions[i]);
            // Tried again: it is a plain delivery if it moves now (a new failure records it again).
            if (fate == ObligationState.Failed) _obligations[obligationId] = ObligationState.Delivery;
            ids[i] = instructionId;
            sorted[i] = instructionId;
        }
        Arrays.sort(sorted);
        for (uint256 i = 1; i < count; ++i) {
            if (sorted[i] == sorted[i - 1]) revert NettingDuplicateInstruction(roundId, sorted[i]);
        }
        _settleCash(roundId, _rounds[roundId]);
        bytes[] memory reasons = new bytes[](count);
        bool[] memory failedAt = new bool[](count);
        uint256 failed;
        for (uint256 i; i < count; ++i) {
            (bool ok, bytes memory reason) = _tryDeliver(roundId, instructions[i]);
            if (!ok) {
                failedAt[i] = true;
                reasons[i] = reason;
                ++failed;
            }
        }
        if (failed != 0) _revertFailures(roundId, ids, failedAt, reasons, failed);
    }

    /// @dev Calls {IAtomicSettlement-deliverNetted} with at most {DELIVERY_GAS}; on failure
    ///      returns its revert data cut to {MAX_REASON_BYTES} (a token cannot make this contract
    ///      pay for copying a huge one). Reverts with {NettingInsufficientGas} when a failed call
    ///      may not have had its whole {DELIVERY_GAS}: a call receives at most 63/64 of the gas
    ///      left, so with less than `needed` before it the failure may be the caller's doing. The
    ///      check is on the gas before the call rather than on what is left after it: a starved
    ///      token fails inside the settlement contract, which keeps 1/64 of its own share and
    ///      returns it, and a token short of gas may fail by its own logic rather than run out,
    ///      so what is left after the call does not show the starving (tested). The input is
    ///      built in free memory without allocating it.
    function _tryDeliver(uint256 roundId, Instruction calldata instruction)
        private
        returns (bool ok, bytes memory reason)
    {
        bytes4 selector = IAtomicSettlement.deliverNetted.selector;
        address target = address(settlement);
        uint256 gasLimit = DELIVERY_GAS;
        uint256 maxReason = MAX_REASON_BYTES;
        uint256 before;
        assembly ("memory-safe") {
            // deliverNetted(Instruction, uint256): the struct is eight static words.
            let input := mload(0x40)
            mstore(input, selector)
            calldatacopy(add(input, 0x04), instruction, 0x100)
            mstore(add(input, 0x104), roundId)
            before := gas()
            ok := call(gasLimit, target, 0, input, 0x124, 0, 0)
            if iszero(ok) {
                let size := returndatasize()
                if gt(size, maxReason) { size := maxReason }
                reason := input
                mstore(reason, size)
                returndatacopy(add(reason, 0x20), 0, size)
                mstore(0x40, add(add(reason, 0x20), and(add(size, 0x1f), not(0x1f))))
            }
        }
        if (!ok) {
            uint256 needed = gasLimit + gasLimit / 63 + CALL_OVERHEAD;
            if (before < needed) revert NettingInsufficientGas(before, needed);
        }
    }

    /// @dev Reverts with {NettingDeliveriesFailed} for the `failed` entries flagged in `failedAt`.
    function _revertFailures(
        uint256 roundId,
        bytes32[] memory ids,
        bool[] memory failedAt,
        bytes[] memory reasons,
        uint256 failed
    ) private pure {
        uint256[] memory indices = new uint256[](failed);
        bytes32[] memory failedIds = new bytes32[](failed);
        bytes[] memory failedReasons = new bytes[](failed);
        uint256 k;
        for (uint256 i; k < failed; ++i) {
            if (!failedAt[i]) continue;
            indices[k] = i;
            failedIds[k] = ids[i];
            failedReasons[k] = reasons[i];
            ++k;
        }
        revert NettingDeliveriesFailed(roundId, indices, failedIds, failedReasons);
    }

    /// @dev What {settle} does when {settleSelf} reverted with `failure`: records the failed
    ///      deliveries it names when `failure` is {NettingDeliveriesFailed} and the funding
    ///      deadline has passed; otherwise reverts with `failure` unchanged.
    function _recordFailures(
        uint256 roundId,
        Round storage round,
        Instruction[] calldata instructions,
        bytes memory failure
    ) private {
        if (bytes4(failure) != NettingDeliveriesFailed.selector || block.timestamp <= round.deadline) {
            _revertWith(failure);
        }
        (uint256[] memory indices, bytes32[] memory ids, bytes[] memory reasons) = _failuresOf(failure);
        uint256 count = indices.length;
        for (uint256 k; k < count; ++k) {
            Instruction calldata instruction = instructions[indices[k]];
            bytes32 obligationId =
                _obligationId(roundId, instruction.partyB, instruction.partyA, instruction.amountB, ids[k]);
            _obligations[obligationId] = ObligationState.Failed;
            emit DeliveryFailed(roundId, ids[k], instruction.partyA, reasons[k]);
        }
    }

    /// @dev The arguments of a {NettingDeliveriesFailed} revert of {settleSelf}, read in place
    ///      rather than copied by `abi.decode` (which would take about 900 bytes of code): in the
    ///      ABI encoding, `indices` and `instructionIds` are laid out as memory arrays already
    ///      (length, then elements), and the offsets heading `reasons` become pointers to its
    ///      elements (each laid out as a memory `bytes`). Only this contract's own revert data
    ///      is read so: {settleSelf} alone raises that error (a failed delivery's data is kept
    ///      as a reason inside it, never raised).
    function _failuresOf(bytes memory failure)
        private
        pure
        returns (uint256[] memory indices, bytes32[] memory ids, bytes[] memory reasons)
    {
        assembly ("memory-safe") {
            // The arguments follow the length word and the selector; the first is roundId.
            let args := add(failure, 0x24)
            indices := add(args, mload(add(args, 0x20)))
            ids := add(args, mload(add(args, 0x40)))
            reasons := add(args, mload(add(args, 0x60)))
            let heads := add(reasons, 0x20)
            for { let i := 0 } lt(i, mload(reasons)) { i := add(i, 1) } {
                let head := add(heads, shl(5, i))
                mstore(head, add(heads, mload(head)))
            }
        }
    }

    /// @dev Marks the round Settled, books and emits every net, then pulls every debit and pays
    ///      every credit.
    function _settleCash(uint256 roundId, Round storage round) private {
        address[] storage members = round.members;
        uint256 count = members.length;
        mapping(address => Position) storage positions = _positions[roundId];
        mapping(address => uint256) storage funded = _funded[roundId];
        // pulls[i] > 0: pull from member i's wallet; credits[i] > 0: pay member i.
        uint256[] memory pulls = new uint256[](count);
        uint256[] memory credits = new uint256[](count);
        uint256 fromEscrowTotal;
        round.stage = RoundState.Settled;
        for (uint256 i; i < count; ++i) {
            address member = members[i];
            int256 net = positions[member].net;
            if (net == 0) continue;
            uint256 fromEscrow;
            if (net < 0) {
                uint256 debit = uint256(-net);
                uint256 held = funded[member];
                fromEscrow = held < debit ? held : debit;
                if (fromEscrow != 0) {
                    unchecked {
                        // fromEscrow <= held.
                        funded[member] = held - fromEscrow;
                    }
                    fromEscrowTotal += fromEscrow;
                }
                unchecked {
                    // fromEscrow <= debit.
                    pulls[i] = debit - fromEscrow;
                }
            } else {
                credits[i] = uint256(net);
            }
            emit NetSettled(roundId, member, net, fromEscrow);
        }
        // fromEscrowTotal is the sum of amounts taken from `funded`, whose sum is `escrowed`.
        round.escrowed -= uint128(fromEscrowTotal);
        emit RoundSettled(roundId, round.grossValue, round.netValue, round.obligationCount);

        IERC20 token = cash;
        for (uint256 i; i < count; ++i) {
            if (pulls[i] != 0) token.safeTransferFrom(members[i], address(this), pulls[i]);
        }
        for (uint256 i; i < count; ++i) {
            if (credits[i] != 0) token.safeTransfer(members[i], credits[i]);
        }
    }

    /// @inheritdoc INetting
    /// @dev The member blocks when it cannot fund its net debit or receive its net credit, or,
    ///      over the listed instructions, is not onboarded or cannot deliver (the sum of its
    ///      deliveries of a token above its balance or its allowance to the settlement contract).
    ///      Effects first; the settlement contract releases the instructions last.
    function exclude(
        uint256 roundId,
        address member,
        Obligation[] calldata obligations,
        Instruction[] calldata instructions
    ) external nonReentrant {
        Round storage round = _round(roundId);
        Position storage position = _positions[roundId][member];
        Exclusion memory x = _requireExcludable(roundId, round, position, member);
        uint256 count = obligations.length;
        for (uint256 i; i < count; ++i) {
            _remove(roundId, round, position, member, obligations[i], x);
        }
        uint256 deliveries = instructions.length;
        if (deliveries != 0 && !x.blocks) x.blocks = !registry.isActive(member);
        for (uint256 i; i < deliveries; ++i) {
            _removeInstruction(roundId, round, position, member, instructions[i], x);
            if (!x.blocks && instructions[i].partyA == member) x.blocks = _cannotDeliver(member, instructions, i);
        }
        if (!x.blocks) revert NettingMemberNotShort(roundId, member, x.required, x.available);
        uint256 remaining = position.obligations;
        if (remaining != 0) revert NettingExclusionIncomplete(roundId, member, remaining);
        position.excluded = true;
        unchecked {
            // At most one exclusion per member, and members < 2^32 (each has an obligation).
            round.excludedCount += 1;
            // Each removed obligation was counted once in the round and once in its gross; each
            // removed instruction once in the instruction count.
            round.obligationCount -= uint32(count + deliveries);
            round.instructionCount -= uint32(deliveries);
            round.grossValue -= uint128(x.owedToOthers + x.owedByOthers);
        }
        round.stage = RoundState.Closed;
        emit MemberExcluded(
            roundId, member, msg.sender, count + deliveries, x.owedToOthers, x.owedByOthers, x.required, x.available
        );
        for (uint256 i; i < deliveries; ++i) {
            settlement.releaseFromNetting(instructions[i], roundId);
        }
    }

    /// @inheritdoc INetting
    function releaseInstructions(uint256 roundId, Instruction[] calldata instructions) external nonReentrant {
        Round storage round = _round(roundId);
        _requireState(roundId, round, RoundState.Expired);
        uint256 count = instructions.length;
        if (count == 0) revert NettingEmptyBatch();
        for (uint256 i; i < count; ++i) {
            (bytes32 instructionId, bytes32 obligationId,) = _delivery(roundId, instructions[i]);
            _dropInstruction(roundId, round, instructions[i], instructionId, obligationId);
        }
        for (uint256 i; i < count; ++i) {
            settlement.releaseFromNetting(instructions[i], roundId);
        }
    }

    /// @inheritdoc INetting
    /// @dev No deadline: the failure was proven by an attempt. Effects first; the settlement
    ///      contract releases the instructions last.
    function removeFailed(uint256 roundId, Instruction[] calldata instructions) external nonReentrant {
        if (address(settlement) == address(0)) revert NettingNoSettlement();
        Round storage round = _round(roundId);
        RoundState state = _state(round);
        if (state != RoundState.Closed && state != RoundState.Verified) {
            revert NettingInvalidState(roundId, RoundState.Verified, state);
        }
        uint256 count = instructions.length;
        if (count == 0) revert NettingEmptyBatch();
        for (uint256 i; i < count; ++i) {
            (bytes32 instructionId, bytes32 obligationId, ObligationState fate) = _entered(roundId, instructions[i]);
            if (fate != ObligationState.Failed) revert NettingDeliveryNotFailed(roundId, instructionId, fate);
            _dropInstruction(roundId, round, instructions[i], instructionId, obligationId);
        }
        round.stage = RoundState.Closed;
        for (uint256 i; i < count; ++i) {
            settlement.releaseFromNetting(instructions[i], roundId);
        }
    }

    // ================================================================== escrow

    /// @inheritdoc INetting
    function fund(uint256 roundId, uint256 amount) external nonReentrant {
        Round storage round = _round(roundId);
        RoundState state = _state(round);
        if (state != RoundState.Collecting && state != RoundState.Closed && state != RoundState.Verified) {
            revert NettingInvalidState(roundId, RoundState.Closed, state);
        }
        if (amount == 0) revert NettingZeroAmount();
        uint256 escrowed = round.escrowed + amount;
        if (escrowed > type(uint128).max) revert NettingOverflow();
        round.escrowed = uint128(escrowed);
        uint256 held = _funded[roundId][msg.sender] + amount;
        _funded[roundId][msg.sender] = held;
        emit Funded(roundId, msg.sender, amount, held);
        cash.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc INetting
    function withdrawFunding(uint256 roundId, uint256 amount) external nonReentrant {
        Round storage round = _round(roundId);
        if (amount == 0) revert NettingZeroAmount();
        uint256 held = _funded[roundId][msg.sender];
        uint256 free = _free(roundId, round, msg.sender, held);
        if (amount > free) revert NettingWithdrawalExceedsFree(roundId, msg.sender, free, amount);
        unchecked {
            // amount <= free <= held <= escrowed.
            held -= amount;
            round.escrowed -= uint128(amount);
        }
        _funded[roundId][msg.sender] = held;
        emit FundingWithdrawn(roundId, msg.sender, amount, held);
        cash.safeTransfer(msg.sender, amount);
    }

    // ================================================================== views

    /// @inheritdoc INetting
    function stateOf(uint256 roundId) external view returns (RoundState) {
        return _state(_rounds[roundId]);
    }

    /// @inheritdoc INetting
    function roundOf(uint256 roundId) external view returns (RoundInfo memory info) {
        Round storage round = _round(roundId);
        info = RoundInfo({
            opener: round.opener,
            cutoff: round.cutoff,
            deadline: round.deadline,
            state: _state(round),
            grossValue: round.grossValue,
            netValue: round.netValue,
            obligationCount: round.obligationCount,
            memberCount: round.members.length,
            excludedCount: round.excludedCount,
            escrowed: round.escrowed,
            instructionCount: round.instructionCount
        });
    }

    /// @inheritdoc INetting
    function membersOf(uint256 roundId) external view returns (address[] memory) {
        return _round(roundId).members;
    }

    /// @inheritdoc INetting
    function netsOf(uint256 roundId) external view returns (int256[] memory nets) {
        address[] storage members = _round(roundId).members;
        mapping(address => Position) storage positions = _positions[roundId];
        nets = new int256[](members.length);
        for (uint256 i; i < nets.length; ++i) {
            nets[i] = positions[members[i]].net;
        }
    }

    /// @inheritdoc INetting
    function positionOf(uint256 roundId, address member)
        external
        view
        returns (int256 net, uint256 obligations, bool excluded, uint256 funded)
    {
        Position storage position = _positions[roundId][member];
        return (position.net, position.obligations, position.excluded, _funded[roundId][member]);
    }

    /// @inheritdoc INetting
    function compressionOf(uint256 roundId) external view returns (uint256 grossValue, uint256 netValue) {
        Round storage round = _round(roundId);
        return (round.grossValue, round.netValue);
    }

    /// @inheritdoc INetting
    function fundingOf(uint256 roundId, address member) external view returns (uint256 required, uint256 available) {
        (required, available,) = _funding(roundId, member, _positions[roundId][member].net);
    }

    /// @inheritdoc INetting
    function freeFundingOf(uint256 roundId, address member) external view returns (uint256) {
        return _free(roundId, _round(roundId), member, _funded[roundId][member]);
    }

    /// @inheritdoc INetting
    function obligationStateOf(bytes32 id) external view returns (ObligationState) {
        return _obligations[id];
    }

    /// @inheritdoc INetting
    function hashObligation(Obligation calldata obligation) external view returns (bytes32) {
        return _hashObligation(obligation);
    }

    /// @notice The EIP-712 domain separator obligations are signed under.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ================================================================== internals

    function _round(uint256 roundId) private view returns (Round storage round) {
        round = _rounds[roundId];
        if (round.stage == RoundState.None) revert NettingUnknownRound(roundId);
    }

    function _state(Round storage round) private view returns (RoundState) {
        RoundState stage = round.stage;
        if (stage == RoundState.None || stage == RoundState.Settled) return stage;
        if (block.timestamp > uint256(round.deadline) + EXPIRY_PERIOD) return RoundState.Expired;
        return stage;
    }

    function _requireState(uint256 roundId, Round storage round, RoundState expected) private view {
        RoundState actual = _state(round);
        if (actual != expected) revert NettingInvalidState(roundId, expected, actual);
    }

    /// @dev The round, if it takes obligations now.
    function _collecting(uint256 roundId) private view returns (Round storage round) {
        round = _round(roundId);
        _requireState(roundId, round, RoundState.Collecting);
        if (block.timestamp > round.cutoff) revert NettingCutoffPassed(roundId, round.cutoff, block.timestamp);
    }

    function _register(
        Round storage round,
        Obligation calldata obligation,
        bytes calldata payerSignature,
        bytes calldata payeeSignature
    ) private returns (bytes32 id) {
        id = _authorise(obligation, payerSignature, payeeSignature);
        _obligations[id] = ObligationState.Registered;
        _book(round, obligation.roundId, obligation.payer, obligation.payee, obligation.amount);
        emit ObligationRegistered(
            obligation.roundId, id, obligation.payer, obligation.payee, obligation.amount, obligation.ref
        );
    }

    /// @dev Checks an obligation's fields, that it is new, both parties' consent and that both
    ///      are onboarded; returns its id.
    function _authorise(Obligation calldata obligation, bytes calldata payerSignature, bytes calldata payeeSignature)
        private
        view
        returns (bytes32 id)
    {
        id = _hashObligation(obligation);
        address payer = obligation.payer;
        address payee = obligation.payee;
        uint256 amount = obligation.amount;
        if (amount == 0 || amount > MAX_AMOUNT) revert NettingInvalidAmount(id, amount);
        if (payer == payee) revert NettingSameParty(id, payer);
        ObligationState fate = _obligations[id];
        if (fate != ObligationState.None) revert NettingObligationExists(id, fate);
        if (!Signatures.consents(payer, id, payerSignature)) revert NettingUnauthorized(id, payer);
        if (!Signatures.consents(payee, id, payeeSignature)) revert NettingUnauthorized(id, payee);
        registry.requireActive(payer);
        registry.requireActive(payee);
    }

    /// @dev The round, when `instruction` may enter it as far as this contract can tell (the
    ///      settlement contract checks the rest when it locks it).
    function _entering(uint256 roundId, Instruction calldata instruction) private view returns (Round storage round) {
        if (address(settlement) == address(0)) revert NettingNoSettlement();
        round = _collecting(roundId);
        if (instruction.tokenB != address(cash)) revert NettingNotCashLeg(roundId, instruction.tokenB);
        if (instruction.deadline < round.deadline) {
            revert NettingInstructionDeadline(roundId, instruction.deadline, round.deadline);
        }
        registry.requireActive(instruction.partyA);
        registry.requireActive(instruction.partyB);
    }

    /// @dev Books the cash leg of a locked instruction: partyB owes `amountB` to partyA.
    function _bookInstruction(
        Round storage round,
        uint256 roundId,
        Instruction calldata instruction,
        bytes32 instructionId
    ) private returns (bytes32 obligationId) {
        address payer = instruction.partyB;
        address payee = instruction.partyA;
        uint256 amount = instruction.amountB;
        obligationId = _obligationId(roundId, payer, payee, amount, instructionId);
        // Zero amounts were refused by the settlement contract.
        if (amount > MAX_AMOUNT) revert NettingInvalidAmount(obligationId, amount);
        ObligationState fate = _obligations[obligationId];
        if (fate != ObligationState.None) revert NettingObligationExists(obligationId, fate);
        _obligations[obligationId] = ObligationState.Delivery;
        _book(round, roundId, payer, payee, amount);
        unchecked {
            // At most the round's obligation count, itself < 2^32 (checked in _book).
            round.instructionCount += 1;
        }
        emit ObligationRegistered(roundId, obligationId, payer, payee, amount, instructionId);
        emit InstructionEntered(roundId, instructionId, obligationId, instruction);
    }

    /// @dev Adds a checked obligation to its round's running nets, counts and gross.
    function _book(Round storage round, uint256 roundId, address payer, address payee, uint256 amount) private {
        mapping(address => Position) storage positions = _positions[roundId];
        Position storage from = positions[payer];
        Position storage to = positions[payee];
        _join(round, from, payer);
        _join(round, to, payee);
        // amount <= MAX_AMOUNT < 2^96, checked by the callers.
        _move(round, from, -int256(amount));
        _move(round, to, int256(amount));
        uint256 total = round.obligationCount;
        if (total == type(uint32).max) revert NettingOverflow();
        unchecked {
            // A member's count is at most the round's, checked above; gross < 2^96 * 2^32 < 2^128.
            from.obligations += 1;
            to.obligations += 1;
            round.obligationCount = uint32(total + 1);
            round.grossValue += uint128(amount);
        }
    }

    /// @dev Lists `member` in the round on its first obligation.
    function _join(Round storage round, Position storage position, address member) private {
        if (!position.listed) {
            position.listed = true;
            round.members.push(member);
        }
    }

    /// @dev Adds `delta` to a member's net and keeps the round's net value (sum of positive
    ///      nets) in step.
    function _move(Round storage round, Position storage position, int256 delta) private {
        int256 before = position.net;
        int256 after_ = before + delta;
        // |net| <= the member's gross < 2^96 * 2^32: never reached, kept as a guard for the cast.
        if (after_ > type(int128).max || after_ < type(int128).min) revert NettingOverflow();
        position.net = int128(after_);
        int256 change = (after_ > 0 ? after_ : int256(0)) - (before > 0 ? before : int256(0));
        if (change != 0) {
            // netValue <= grossValue < 2^128 before and after.
            round.netValue = uint128(uint256(int256(uint256(round.netValue)) + change));
        }
    }

    /// @dev Reverts unless `member` may be excluded now: the round is Closed or Verified, its
    ///      funding deadline has passed, and the member is listed and not yet excluded. Sets
    ///      `x.blocks` when its cash blocks the settlement (a net debit it cannot fund, or a net
    ///      credit it cannot receive).
    function _requireExcludable(uint256 roundId, Round storage round, Position storage position, address member)
        private
        view
        returns (Exclusion memory x)
    {
        RoundState state = _state(round);
        if (state != RoundState.Closed && state != RoundState.Verified) {
            revert NettingInvalidState(roundId, RoundState.Closed, state);
        }
        if (block.timestamp <= round.deadline) {
            revert NettingDeadlineNotReached(roundId, round.deadline, block.timestamp);
        }
        if (!position.listed) revert NettingNotMember(roundId, member);
        if (position.excluded) revert NettingAlreadyExcluded(roundId, member);
        int256 net = position.net;
        bool active;
        (x.required, x.available, active) = _funding(roundId, member, net);
        x.blocks = net < 0 ? x.available < x.required : net > 0 && !active;
    }

    /// @dev Removes one Registered obligation of `member` from the round's nets; adds its
    ///      amount to `x.owedToOthers` (member pays) or `x.owedByOthers` (member is paid).
    function _remove(
        uint256 roundId,
        Round storage round,
        Position storage position,
        address member,
        Obligation calldata o,
        Exclusion memory x
    ) private {
        bytes32 id = _hashObligation(o);
        ObligationState fate = _obligations[id];
        if (fate != ObligationState.Registered || o.roundId != roundId || (o.payer != member && o.payee != member)) {
            revert NettingNotObligationOf(roundId, member, id, fate);
        }
        _unbook(roundId, round, position, member, id, o.payer, o.payee, o.amount, x);
    }

    /// @dev Removes the cash leg of an instruction of `member` entered into the round.
    function _removeInstruction(
        uint256 roundId,
        Round storage round,
        Position storage position,
        address member,
        Instruction calldata instruction,
        Exclusion memory x
    ) private {
        (bytes32 instructionId, bytes32 id, ObligationState fate) = _delivery(roundId, instruction);
        if (instruction.partyA != member && instruction.partyB != member) {
            revert NettingNotObligationOf(roundId, member, id, fate);
        }
        _unbook(roundId, round, position, member, id, instruction.partyB, instruction.partyA, instruction.amountB, x);
        emit InstructionReleased(roundId, instructionId);
    }

    /// @dev Marks obligation `id` (payer owes amount to payee, one of them `member`) Removed and
    ///      takes it out of both parties' nets and counts; adds its amount to `x.owedToOthers`
    ///      (member pays) or `x.owedByOthers` (member is paid).
    function _unbook(
        uint256 roundId,
        Round storage round,
        Position storage position,
        address member,
        bytes32 id,
        address payer,
        address payee,
        uint256 amount,
        Exclusion memory x
    ) private {
        _obligations[id] = ObligationState.Removed;
        // Booked obligations passed the amount check: amount < 2^96.
        int256 signed = int256(amount);
        Position storage other;
        if (payer == member) {
            x.owedToOthers += amount;
            other = _positions[roundId][payee];
            _move(round, other, -signed);
            _move(round, position, signed);
        } else {
            x.owedByOthers += amount;
            other = _positions[roundId][payer];
            _move(round, other, signed);
            _move(round, position, -signed);
        }
        unchecked {
            // Both counted this booked obligation.
            other.obligations -= 1;
            position.obligations -= 1;
        }
        emit ObligationRemoved(roundId, id, payer, payee, amount);
    }

    /// @dev The ids of an instruction and of its cash-leg obligation in round `roundId`, and that
    ///      obligation's fate.
    function _entered(uint256 roundId, Instruction calldata instruction)
        private
        view
        returns (bytes32 instructionId, bytes32 obligationId, ObligationState fate)
    {
        // Only reached with instructions listed for a round that has some, or after checking
        // there is a settlement contract; a zero one would make this call revert.
        instructionId = settlement.hashInstruction(instruction);
        obligationId =
            _obligationId(roundId, instruction.partyB, instruction.partyA, instruction.amountB, instructionId);
        fate = _obligations[obligationId];
    }

    /// @dev As {_entered}; reverts unless the instruction is in the round (its cash leg a
    ///      Delivery or Failed obligation of it).
    function _delivery(uint256 roundId, Instruction calldata instruction)
        private
        view
        returns (bytes32 instructionId, bytes32 obligationId, ObligationState fate)
    {
        (instructionId, obligationId, fate) = _entered(roundId, instruction);
        if (fate != ObligationState.Delivery && fate != ObligationState.Failed) {
            revert NettingNotInstructionOf(roundId, instructionId, fate);
        }
    }

    /// @dev Marks the cash leg of an instruction of the round Removed and takes it out of both
    ///      parties' nets and counts, the round's counts and its gross.
    function _dropInstruction(
        uint256 roundId,
        Round storage round,
        Instruction calldata instruction,
        bytes32 instructionId,
        bytes32 obligationId
    ) private {
        _obligations[obligationId] = ObligationState.Removed;
        uint256 amount = instruction.amountB;
        mapping(address => Position) storage positions = _positions[roundId];
        Position storage payer = positions[instruction.partyB];
        Position storage payee = positions[instruction.partyA];
        // Booked obligations passed the amount check: amount < 2^96.
        _move(round, payer, int256(amount));
        _move(round, payee, -int256(amount));
        unchecked {
            // The obligation was counted by both parties, the round and its gross.
            payer.obligations -= 1;
            payee.obligations -= 1;
            round.obligationCount -= 1;
            round.instructionCount -= 1;
            round.grossValue -= uint128(amount);
        }
        emit ObligationRemoved(roundId, obligationId, instruction.partyB, instruction.partyA, amount);
        emit InstructionReleased(roundId, instructionId);
    }

    /// @dev True when `member` cannot deliver the token of `instructions[index]` (it is that
    ///      instruction's partyA): the sum of its deliveries of that token among `instructions`
    ///      is above its balance or its allowance to the settlement contract.
    function _cannotDeliver(address member, Instruction[] calldata instructions, uint256 index)
        private
        view
        returns (bool)
    {
        address token = instructions[index].tokenA;
        uint256 total;
        uint256 count = instructions.length;
        for (uint256 j; j < count; ++j) {
            if (instructions[j].partyA == member && instructions[j].tokenA == token) total += instructions[j].amountA;
        }
        IERC20 asset = IERC20(token);
        return asset.balanceOf(member) < total || asset.allowance(member, address(settlement)) < total;
    }

    /// @dev What `member` must fund (its net debit) and can fund; whether it is onboarded.
    function _funding(uint256 roundId, address member, int256 net)
        private
        view
        returns (uint256 required, uint256 available, bool active)
    {
        required = net < 0 ? uint256(-net) : 0;
        available = _funded[roundId][member];
        active = registry.isActive(member);
        if (active && available < required) {
            uint256 balance = cash.balanceOf(member);
            uint256 allowance = cash.allowance(member, address(this));
            available += balance < allowance ? balance : allowance;
        }
    }

    /// @dev The part of `held` that `member` may withdraw: all of it unless the round may still
    ///      settle and the member still owes a net debit, which its funding covers first.
    function _free(uint256 roundId, Round storage round, address member, uint256 held) private view returns (uint256) {
        RoundState state = _state(round);
        if (state != RoundState.Collecting && state != RoundState.Closed && state != RoundState.Verified) return held;
        int256 net = _positions[roundId][member].net;
        if (net >= 0) return held;
        uint256 debit = uint256(-net);
        return held > debit ? held - debit : 0;
    }

    /// @dev Reverts with `failure` as revert data, unchanged.
    function _revertWith(bytes memory failure) private pure {
        assembly ("memory-safe") {
            revert(add(failure, 0x20), mload(failure))
        }
    }

    function _hashObligation(Obligation calldata o) private view returns (bytes32) {
        return _obligationId(o.roundId, o.payer, o.payee, o.amount, o.ref);
    }

    function _obligationId(uint256 roundId, address payer, address payee, uint256 amount, bytes32 ref)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(OBLIGATION_TYPEHASH, roundId, payer, payee, amount, ref)));
    }
}
