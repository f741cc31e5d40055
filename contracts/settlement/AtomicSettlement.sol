// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IAtomicSettlement, Instruction, InstructionState, SignedInstruction} from "../interfaces/IAtomicSettlement.sol";
import {Signatures} from "../utils/Signatures.sol";

/// @title AtomicSettlement
/// @notice Atomic DvP and PvP settlement of two-leg instructions. See {IAtomicSettlement}.
/// @dev Key concepts:
///      - One frame, two legs. Both `transferFrom`s run in the same call frame, so a leg that
///        cannot move reverts the other. A batch (or an affirmation) runs each instruction in a
///        call to {executeSelf}, so one failure reverts that instruction alone; its revert data
///        becomes the reason of {SettlementFailed}.
///      - Consent. A party consents by an EIP-712 signature of the instruction (ECDSA first, then
///        ERC-1271 for contract parties), by sending the transaction, or on-chain through
///        {propose}/{affirm}. The id is the EIP-712 digest, so a signature or an approval binds
///        the chain, this contract and every field of the instruction.
///      - Nonces. Two bits per nonce in a bitmap per unordered pair of parties: settling or
///        cancelling spends the nonce (check and write one word). Nothing else is stored for a
///        signed instruction; on-chain consent costs one more word, cleared on settlement.
///      - No custody and no owner. Tokens only ever move party to party; the contract has no
///        admin and one parameter, fixed at construction: the netting contract it trusts.
///      - Netting. The third nonce mark (3) is "locked": the netting contract has entered the
///        instruction into a round. A locked nonce is not spent, but nothing except the netting
///        contract can settle, cancel or reuse it; {deliverNetted} turns it into "settled",
///        {releaseFromNetting} back into "unspent". The lock lives in the nonce word settlement
///        already reads, so bilateral settlement pays nothing for it.
///
///      Invariants (tested in tests/settlement/test_settlement_properties.py):
///      - this contract's balance of every token is zero before and after every call;
///      - for every token, the sum of all balances is unchanged by every call;
///      - a settlement moves exactly `amountA` of `tokenA` from partyA to partyB and `amountB` of
///        `tokenB` from partyB to partyA, and nothing else; a failed one moves nothing;
///      - an instruction settles at most once, and never after its nonce was spent or its
///        deadline passed; a locked one settles only through its netting round.
contract AtomicSettlement is IAtomicSettlement, EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @inheritdoc IAtomicSettlement
    bytes32 public constant INSTRUCTION_TYPEHASH = keccak256(
        "Instruction(address partyA,address tokenA,uint256 amountA,address partyB,address tokenB,uint256 amountB,uint256 deadline,uint256 nonce)"
    );
    /// @inheritdoc IAtomicSettlement
    uint256 public constant INSTRUCTION_GAS = 500_000;
    /// @inheritdoc IAtomicSettlement
    uint256 public constant MAX_REASON_BYTES = 256;

    /// Nonce marks in the bitmap (two bits per nonce).
    uint256 private constant NONCE_SETTLED = 1;
    uint256 private constant NONCE_CANCELLED = 2;
    uint256 private constant NONCE_LOCKED = 3;
    /// On-chain consent flags.
    uint8 private constant APPROVED_A = 1;
    uint8 private constant APPROVED_B = 2;
    uint8 private constant APPROVED_BOTH = 3;
    /// Gas this contract needs around each batch call after it returns (events, bookkeeping).
    uint256 private constant CALL_RESERVE = 20_000;

    /// Nonce words by unordered pair (lower address first) and word index.
    mapping(address low => mapping(address high => mapping(uint256 wordIndex => uint256))) private _nonceWords;
    /// On-chain consent of the parties, by instruction id.
    mapping(bytes32 id => uint8) private _approvals;

    /// @inheritdoc IAtomicSettlement
    address public immutable netting;

    /// @param netting_ The netting contract allowed to lock, deliver and release instructions
    ///        (zero: none; instructions then only settle bilaterally).
    constructor(address netting_) EIP712("AtomicSettlement", "1") {
        netting = netting_;
    }

    modifier onlyNetting() {
        if (msg.sender != netting) revert SettlementOnlyNetting(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ settlement

    /// @inheritdoc IAtomicSettlement
    function settle(Instruction calldata instruction, bytes calldata signatureA, bytes calldata signatureB)
        external
        nonReentrant
        returns (bytes32 id)
    {
        bool viaApprovals;
        bytes memory failure;
        (id, viaApprovals, failure) = _authorise(instruction, signatureA, signatureB);
        if (failure.length != 0) _revertWith(failure);
        _execute(instruction, id, viaApprovals);
    }

    /// @inheritdoc IAtomicSettlement
    function settleBatch(SignedInstruction[] calldata batch) external nonReentrant returns (bool[] memory settled) {
        uint256 count = batch.length;
        if (count == 0) revert SettlementEmptyBatch();
        settled = new bool[](count);
        for (uint256 i; i < count; ++i) {
            SignedInstruction calldata item = batch[i];
            (bytes32 id, bool viaApprovals, bytes memory failure) =
                _authorise(item.instruction, item.signatureA, item.signatureB);
            if (failure.length == 0) {
                (settled[i], failure) = _tryExecute(item.instruction, id, viaApprovals);
            }
            if (!settled[i]) emit SettlementFailed(id, failure);
        }
    }

    /// @inheritdoc IAtomicSettlement
    function executeSelf(Instruction calldata instruction, bytes32 id, bool clearApprovals) external {
        if (msg.sender != address(this)) revert SettlementOnlySelf(msg.sender);
        _execute(instruction, id, clearApprovals);
    }

    // ------------------------------------------------------------------ on-chain consent

    /// @inheritdoc IAtomicSettlement
    function propose(Instruction calldata instruction) external returns (bytes32 id) {
        id = _hash(instruction);
        _requireSettleable(instruction, id);
        uint8 own = _partyFlag(instruction, id, msg.sender);
        uint8 flags = _approvals[id];
        if (flags != 0) revert SettlementAlreadyProposed(id, flags & APPROVED_A != 0, flags & APPROVED_B != 0);
        _approvals[id] = own;
        emit InstructionProposed(id, msg.sender, instruction);
    }

    /// @inheritdoc IAtomicSettlement
    function affirm(Instruction calldata instruction) external nonReentrant returns (bool settled) {
        bytes32 id = _hash(instruction);
        _requireSettleable(instruction, id);
        uint8 own = _partyFlag(instruction, id, msg.sender);
        if (_approvals[id] != APPROVED_BOTH ^ own) revert SettlementNotProposed(id, msg.sender);
        emit InstructionAffirmed(id, msg.sender);
        bytes memory failure;
        (settled, failure) = _tryExecute(instruction, id, true);
        if (!settled) {
            _approvals[id] = APPROVED_BOTH;
            emit SettlementFailed(id, failure);
        }
    }

    /// @inheritdoc IAtomicSettlement
    function cancel(Instruction calldata instruction) external returns (bytes32 id) {
        id = _hash(instruction);
        _partyFlag(instruction, id, msg.sender);
        _spendNonce(instruction, id, NONCE_CANCELLED);
        if (_approvals[id] != 0) delete _approvals[id];
        emit InstructionCancelled(id, msg.sender);
    }

    // ------------------------------------------------------------------ netting

    /// @inheritdoc IAtomicSettlement
    /// @dev The same checks as {settle} (fields, deadline, unspent nonce, both parties' consent by
    ///      signature or on-chain approval), then the nonce is marked locked. The netting contract
    ///      consents for nobody: it may not be a party.
    function lockForNetting(
        Instruction calldata instruction,
        bytes calldata signatureA,
        bytes calldata signatureB,
        uint256 roundId
    ) external onlyNetting nonReentrant returns (bytes32 id) {
        if (instruction.partyA == msg.sender || instruction.partyB == msg.sender) {
            revert SettlementNotParty(_hash(instruction), msg.sender);
        }
        bytes memory failure;
        (id,, failure) = _authorise(instruction, signatureA, signatureB);
        if (failure.length != 0) _revertWith(failure);
        _spendNonce(instruction, id, NONCE_LOCKED);
        emit InstructionLocked(id, instruction.partyA, instruction.partyB, roundId);
    }

    /// @inheritdoc IAtomicSettlement
    function deliverNetted(Instruction calldata instruction, uint256 roundId)
        external
        onlyNetting
        nonReentrant
        returns (bytes32 id)
    {
        id = _hash(instruction);
        _unlock(instruction, id, NONCE_SETTLED);
        if (_approvals[id] != 0) delete _approvals[id];
        emit InstructionSettledNetted(id, instruction.partyA, instruction.partyB, roundId);
        IERC20(instruction.tokenA).safeTransferFrom(instruction.partyA, instruction.partyB, instruction.amountA);
    }

    /// @inheritdoc IAtomicSettlement
    function releaseFromNetting(Instruction calldata instruction, uint256 roundId)
        external
        onlyNetting
        nonReentrant
        returns (bytes32 id)
    {
        id = _hash(instruction);
        _unlock(instruction, id, 0);
        emit InstructionReleased(id, roundId);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IAtomicSettlement
    function hashInstruction(Instruction calldata instruction) external view returns (bytes32) {
        return _hash(instruction);
    }

    /// @inheritdoc IAtomicSettlement
    function stateOf(Instruction calldata instruction) external view returns (InstructionState) {
        InstructionState spent = _nonceState(instruction.partyA, instruction.partyB, instruction.nonce);
        if (spent != InstructionState.Pending) return spent;
        if (block.timestamp > instruction.deadline) return InstructionState.Expired;
        uint8 flags = _approvals[_hash(instruction)];
        if (flags == APPROVED_BOTH) return InstructionState.Affirmed;
        if (flags != 0) return InstructionState.Proposed;
        return InstructionState.Pending;
    }

    /// @inheritdoc IAtomicSettlement
    function approvalsOf(bytes32 id) external view returns (bool approvedA, bool approvedB) {
        uint8 flags = _approvals[id];
        return (flags & APPROVED_A != 0, flags & APPROVED_B != 0);
    }

    /// @inheritdoc IAtomicSettlement
    function nonceState(address partyA, address partyB, uint256 nonce) external view returns (InstructionState) {
        return _nonceState(partyA, partyB, nonce);
    }

    /// @inheritdoc IAtomicSettlement
    function nonceWord(address partyA, address partyB, uint256 wordIndex) external view returns (uint256) {
        return _words(partyA, partyB)[wordIndex];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Checks everything but the legs, without reverting: the id, whether the on-chain
    ///      consent was relied on, and the encoded error when the instruction cannot settle.
    function _authorise(Instruction calldata instruction, bytes calldata signatureA, bytes calldata signatureB)
        private
        view
        returns (bytes32 id, bool viaApprovals, bytes memory failure)
    {
        id = _hash(instruction);
        failure = _shapeFailure(instruction, id);
        if (failure.length != 0) return (id, false, failure);
        InstructionState spent = _nonceState(instruction.partyA, instruction.partyB, instruction.nonce);
        if (spent != InstructionState.Pending) {
            return (id, false, abi.encodeWithSelector(SettlementNonceUsed.selector, id, instruction.nonce, spent));
        }
        bool consentA = Signatures.consents(instruction.partyA, id, signatureA);
        bool consentB = Signatures.consents(instruction.partyB, id, signatureB);
        if (!(consentA && consentB)) {
            uint8 flags = _approvals[id];
            viaApprovals = flags != 0;
            if (!consentA && flags & APPROVED_A == 0) {
                return (id, false, abi.encodeWithSelector(SettlementUnauthorized.selector, id, instruction.partyA));
            }
            if (!consentB && flags & APPROVED_B == 0) {
                return (id, false, abi.encodeWithSelector(SettlementUnauthorized.selector, id, instruction.partyB));
            }
        }
    }

    /// @dev The encoded error when the instruction's fields or deadline rule it out, else empty.
    function _shapeFailure(Instruction calldata instruction, bytes32 id) private view returns (bytes memory) {
        if (block.timestamp > instruction.deadline) {
            return abi.encodeWithSelector(SettlementExpired.selector, id, instruction.deadline, block.timestamp);
        }
        if (instruction.amountA == 0 || instruction.amountB == 0) {
            return abi.encodeWithSelector(SettlementZeroAmount.selector, id);
        }
        if (instruction.partyA == instruction.partyB) {
            return abi.encodeWithSelector(SettlementSameParty.selector, id, instruction.partyA);
        }
        if (instruction.tokenA == instruction.tokenB) {
            return abi.encodeWithSelector(SettlementSameToken.selector, id, instruction.tokenA);
        }
        return "";
    }

    /// @dev Reverts unless the instruction could settle now as far as its fields, deadline and
    ///      nonce go (consent and legs aside).
    function _requireSettleable(Instruction calldata instruction, bytes32 id) private view {
        bytes memory failure = _shapeFailure(instruction, id);
        if (failure.length != 0) _revertWith(failure);
        InstructionState spent = _nonceState(instruction.partyA, instruction.partyB, instruction.nonce);
        if (spent != InstructionState.Pending) revert SettlementNonceUsed(id, instruction.nonce, spent);
    }

    /// @dev Spends the nonce, then moves both legs; reverts as a whole if either cannot move.
    function _execute(Instruction calldata instruction, bytes32 id, bool clearApprovals) private {
        _spendNonce(instruction, id, NONCE_SETTLED);
        if (clearApprovals) delete _approvals[id];
        emit InstructionSettled(id, instruction.partyA, instruction.partyB);
        IERC20(instruction.tokenA).safeTransferFrom(instruction.partyA, instruction.partyB, instruction.amountA);
        IERC20(instruction.tokenB).safeTransferFrom(instruction.partyB, instruction.partyA, instruction.amountB);
    }

    /// @dev Runs {_execute} in its own frame through {executeSelf} with {INSTRUCTION_GAS}; on
    ///      failure returns the revert data, cut to {MAX_REASON_BYTES} (a token cannot make the
    ///      caller pay for copying a huge one). The call's input is built in free memory without
    ///      allocating it, so a long batch does not grow memory by one input per instruction.
    function _tryExecute(Instruction calldata instruction, bytes32 id, bool clearApprovals)
        private
        returns (bool ok, bytes memory reason)
    {
        uint256 needed = INSTRUCTION_GAS + INSTRUCTION_GAS / 63 + CALL_RESERVE;
        if (gasleft() < needed) revert SettlementInsufficientGas(gasleft(), needed);
        bytes4 selector = this.executeSelf.selector;
        uint256 gasLimit = INSTRUCTION_GAS;
        uint256 maxReason = MAX_REASON_BYTES;
        assembly ("memory-safe") {
            // executeSelf(Instruction, bytes32, bool): the struct is eight static words.
            let input := mload(0x40)
            mstore(input, selector)
            calldatacopy(add(input, 0x04), instruction, 0x100)
            mstore(add(input, 0x104), id)
            mstore(add(input, 0x124), clearApprovals)
            ok := call(gasLimit, address(), 0, input, 0x144, 0, 0)
            if iszero(ok) {
                let size := returndatasize()
                if gt(size, maxReason) { size := maxReason }
                reason := input
                mstore(reason, size)
                returndatacopy(add(reason, 0x20), 0, size)
                mstore(0x40, add(add(reason, 0x20), and(add(size, 0x1f), not(0x1f))))
            }
        }
    }


    /// @dev The caller's consent flag; reverts unless it is a party.
    function _partyFlag(Instruction calldata instruction, bytes32 id, address caller) private pure returns (uint8) {
        if (caller == instruction.partyA) return APPROVED_A;
        if (caller == instruction.partyB) return APPROVED_B;
        revert SettlementNotParty(id, caller);
    }

    function _spendNonce(Instruction calldata instruction, bytes32 id, uint256 mark) private {
        mapping(uint256 => uint256) storage words = _words(instruction.partyA, instruction.partyB);
        uint256 nonce = instruction.nonce;
        uint256 wordIndex = nonce >> 7;
        uint256 shift = (nonce & 127) << 1;
        uint256 word = words[wordIndex];
        uint256 spent = (word >> shift) & 3;
        if (spent != 0) revert SettlementNonceUsed(id, nonce, _spentState(spent));
        words[wordIndex] = word | (mark << shift);
    }

    /// @dev Replaces the locked mark of the instruction's nonce by `mark` (settled, or 0: unspent).
    function _unlock(Instruction calldata instruction, bytes32 id, uint256 mark) private {
        mapping(uint256 => uint256) storage words = _words(instruction.partyA, instruction.partyB);
        uint256 nonce = instruction.nonce;
        uint256 wordIndex = nonce >> 7;
        uint256 shift = (nonce & 127) << 1;
        uint256 word = words[wordIndex];
        uint256 spent = (word >> shift) & 3;
        if (spent != NONCE_LOCKED) revert SettlementNotLocked(id, nonce, _spentState(spent));
        words[wordIndex] = (word & ~(uint256(3) << shift)) | (mark << shift);
    }

    function _nonceState(address partyA, address partyB, uint256 nonce) private view returns (InstructionState) {
        uint256 word = _words(partyA, partyB)[nonce >> 7];
        return _spentState((word >> ((nonce & 127) << 1)) & 3);
    }

    function _spentState(uint256 mark) private pure returns (InstructionState) {
        if (mark == 0) return InstructionState.Pending;
        if (mark == NONCE_SETTLED) return InstructionState.Settled;
        if (mark == NONCE_CANCELLED) return InstructionState.Cancelled;
        return InstructionState.Locked;
    }

    function _words(address partyA, address partyB) private view returns (mapping(uint256 => uint256) storage) {
        return partyA < partyB ? _nonceWords[partyA][partyB] : _nonceWords[partyB][partyA];
    }

    /// @dev `keccak256(abi.encode(INSTRUCTION_TYPEHASH, instruction))` from calldata without
    ///      allocating (the struct is eight static words); fields with dirty high bits give a hash
    ///      no party signed, and revert where Solidity reads them.
    function _hash(Instruction calldata instruction) private view returns (bytes32) {
        bytes32 typeHash = INSTRUCTION_TYPEHASH;
        bytes32 structHash;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), instruction, 0x100)
            structHash := keccak256(ptr, 0x120)
        }
        return _hashTypedDataV4(structHash);
    }

    function _revertWith(bytes memory failure) private pure {
        assembly ("memory-safe") {
            revert(add(failure, 0x20), mload(failure))
        }
    }
}
