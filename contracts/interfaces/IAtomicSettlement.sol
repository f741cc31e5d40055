// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @notice A two-leg settlement instruction: `partyA` delivers `amountA` of `tokenA` to `partyB`,
///         and `partyB` delivers `amountB` of `tokenB` to `partyA`; both legs or neither.
/// @dev DvP: `tokenA` is the security and `partyA` its seller; `tokenB` is the cash and `partyB`
///      the buyer. PvP: two cash tokens (e.g. a USD and a EUR coin). The instruction's id is its
///      EIP-712 digest under the settlement contract's domain, so it names one instruction on one
///      chain and one contract.
struct Instruction {
    address partyA;
    address tokenA;
    /// Units of `tokenA` (its smallest unit), partyA -> partyB.
    uint256 amountA;
    address partyB;
    address tokenB;
    /// Units of `tokenB` (its smallest unit), partyB -> partyA.
    uint256 amountB;
    /// Unix seconds, inclusive: the instruction settles while `block.timestamp <= deadline`.
    uint256 deadline;
    /// Nonce in the nonce space the two parties share (see {IAtomicSettlement}).
    uint256 nonce;
}

/// @notice An instruction with each party's consent for a settlement by anyone: an EIP-712
///         signature of the instruction, or empty bytes when the party sends the transaction or
///         approved the instruction on-chain ({IAtomicSettlement-propose} / {IAtomicSettlement-affirm}).
struct SignedInstruction {
    Instruction instruction;
    bytes signatureA;
    bytes signatureB;
}

/// @notice Where an instruction stands.
/// @dev Pending -> Settled | Cancelled | Expired; Pending -> Proposed -> Affirmed -> Settled, and
///      from Proposed or Affirmed -> Cancelled | Expired. Pending, Proposed or Affirmed -> Locked
///      when the netting contract enters the instruction into a round; Locked -> Settled when the
///      round settles, or back to where it was (Pending, Proposed, Affirmed, or Expired if its
///      deadline passed meanwhile) when the round releases it. A Locked instruction does not
///      expire: its deadline was checked when it entered the round. `Pending` means nothing is recorded
///      on-chain: the instruction settles if both parties' signatures are presented. `Settled`
///      and `Cancelled` are the fate of the instruction's nonce, so an instruction that reuses a
///      nonce already spent by another reads the same and can never settle.
enum InstructionState {
    Pending,
    Proposed,
    Affirmed,
    Settled,
    Cancelled,
    Expired,
    Locked
}

/// @title IAtomicSettlement
/// @notice Atomic delivery-versus-payment (DvP) and payment-versus-payment (PvP) between two
///         parties, for any two ERC-20 tokens (the market's compliant security and cash tokens).
///
///         Agreement. Both parties agree to the identical {Instruction}: each signs it (EIP-712)
///         and anyone submits both signatures, or a party sends the transaction itself, or the
///         parties record their consent on-chain: one proposes, the other affirms (which also
///         settles at once if the legs can move).
///
///         Settlement. Both legs move in one call frame, pulled by this contract straight from
///         each party to the other with `transferFrom` (each party approves this contract on the
///         token it delivers, or signs an EIP-2612 permit): if either leg cannot move (balance,
///         allowance, allowlist, freeze, pause), the frame reverts and nothing moves. This
///         contract never holds tokens between legs; there is no escrow mode.
///
///         Compliance is the tokens' job and is checked at settlement time: the market's tokens
///         refuse any movement from or to an account that the shared registry does not hold
///         `Active`, and refuse this contract as a spender unless it is onboarded.
///
///         Nonces. The two parties of an instruction share one nonce space (the unordered pair:
///         an instruction from A to B and one from B to A draw from the same space). A nonce is
///         spent by the settlement or the cancellation of an instruction that carries it, so an
///         instruction settles at most once, and a party can void any instruction with its
///         counterparty before it settles. Nonces are unordered: 128 fit in one storage word, so
///         parties who number their instructions 0, 1, 2... pay for a fresh word once every 128.
///
///         Netting (DvP cash legs). The contract trusts exactly one netting contract, fixed at
///         construction ({netting}; zero for none). It may enter a pending instruction into a
///         netting round: {lockForNetting} checks everything {settle} checks (fields, deadline,
///         unspent nonce, both parties' consent by signature or on-chain approval; the signed
///         instruction is the consent, no other signature is asked) and locks the instruction's
///         nonce, so that neither party can settle or cancel it separately any more. When the
///         round settles, the cash leg moves as part of the round's net cash and
///         {deliverNetted} moves the delivery leg (`tokenA`, partyA -> partyB) in the same
///         transaction, spending the nonce: the round reverts as a whole if any delivery leg
///         cannot move. If the round drops the instruction (a party excluded, the round
///         expired), {releaseFromNetting} unlocks it: it is pending again and may settle
///         bilaterally or be cancelled. Trusting one fixed contract keeps the lock in the nonce
///         word (no storage per instruction, nothing added to bilateral settlement) and leaves
///         no governance: replacing the netting contract means deploying both again.
///
///         EIP-712 (what a client needs to sign an {Instruction} without this project's toolkit):
///         - Domain: name "AtomicSettlement", version "1", `chainId` the chain's id,
///           `verifyingContract` this contract; no salt. {eip712Domain} (EIP-5267) returns them.
///         - Type, exactly as hashed (it references no other type):
///           `Instruction(address partyA,address tokenA,uint256 amountA,address partyB,address tokenB,uint256 amountB,uint256 deadline,uint256 nonce)`
///           There is no `bytes` or `string` field: every field is one 32-byte word of the
///           struct hash. Amounts are in each token's smallest unit; `deadline` is inclusive.
///         - Digest: `keccak256("\x19\x01" || domainSeparator || hashStruct(instruction))`, which is
///           also the instruction's id ({hashInstruction}); both parties sign the same digest.
///         - Signature: 65 bytes `r || s || v` (32 + 32 + 1), `v` 27 or 28, `s` in the lower half
///           of the curve order (OpenZeppelin's ECDSA refuses the upper half as malleable), as
///           `eth_signTypedData_v4` returns it. When it does not recover to the party, the party
///           is asked ERC-1271 `isValidSignature(digest, signature)`: a party that is a contract
///           (a Safe, a bank's wallet) signs with whatever bytes it accepts.
///           An empty signature is no consent by signature: the party then consents by sending
///           the transaction itself or by {propose} / {affirm}.
interface IAtomicSettlement is IERC5267 {
    // ------------------------------------------------------------------ events

    /// @notice `proposer` (a party) recorded its consent to `instruction` on-chain; the other
    ///         party may now affirm it.
    event InstructionProposed(bytes32 indexed id, address indexed proposer, Instruction instruction);

    /// @notice `affirmer` (the other party) recorded its consent; settlement is attempted at once.
    event InstructionAffirmed(bytes32 indexed id, address indexed affirmer);

    /// @notice Both legs of instruction `id` moved (the tokens' `Transfer` events follow).
    event InstructionSettled(bytes32 indexed id, address indexed partyA, address indexed partyB);

    /// @notice Instruction `id` was cancelled by `party`; its nonce is spent.
    event InstructionCancelled(bytes32 indexed id, address indexed party);

    /// @notice The netting contract entered instruction `id` into its round `roundId`: locked
    ///         until the round delivers or releases it.
    event InstructionLocked(bytes32 indexed id, address indexed partyA, address indexed partyB, uint256 roundId);

    /// @notice Instruction `id` settled through netting round `roundId`: its delivery leg moved
    ///         here (the token's `Transfer` follows) and its cash leg moved in the round's net
    ///         cash, in the same transaction. Its nonce is spent.
    event InstructionSettledNetted(
        bytes32 indexed id, address indexed partyA, address indexed partyB, uint256 roundId
    );

    /// @notice Netting round `roundId` no longer includes instruction `id`; it is unlocked and
    ///         settles or cancels as before.
    event InstructionReleased(bytes32 indexed id, uint256 indexed roundId);

    /// @notice An attempt to settle instruction `id` in a batch or an affirmation failed and
    ///         nothing moved; the instruction stays as it was (it may be retried until its
    ///         deadline). `reason` is the revert data: one of this contract's errors, or the
    ///         token's (e.g. `ERC20InsufficientBalance`, `ComplianceAccountNotActive`,
    ///         `EnforcedPause`), at most {MAX_REASON_BYTES} long.
    event SettlementFailed(bytes32 indexed id, bytes reason);

    // ------------------------------------------------------------------ errors

    /// @notice Instruction `id` expired at `deadline`; it is now `timestamp`. Agree a new one.
    error SettlementExpired(bytes32 id, uint256 deadline, uint256 timestamp);

    /// @notice The nonce of instruction `id` is already spent: an instruction with this nonce
    ///         between these parties was `state` (Settled or Cancelled), or it is `Locked`: an
    ///         instruction with this nonce is in a netting round, which alone settles or releases
    ///         it. Nothing can settle twice; agree a new instruction with a fresh nonce, or wait
    ///         for the round.
    error SettlementNonceUsed(bytes32 id, uint256 nonce, InstructionState state);

    /// @notice `party` has not consented to instruction `id`: its signature is missing or does
    ///         not verify (wrong signer, chain, contract or instruction), it did not send the
    ///         transaction, and it has not approved the instruction on-chain.
    error SettlementUnauthorized(bytes32 id, address party);

    /// @notice `caller` is not a party to instruction `id`: only the parties propose, affirm or
    ///         cancel.
    error SettlementNotParty(bytes32 id, address caller);

    /// @notice Instruction `id` has a zero amount on a leg: a settlement moves two legs.
    error SettlementZeroAmount(bytes32 id);

    /// @notice Instruction `id` names `party` on both sides.
    error SettlementSameParty(bytes32 id, address party);

    /// @notice Instruction `id` names `token` on both legs.
    error SettlementSameToken(bytes32 id, address token);

    /// @notice Instruction `id` already carries on-chain consent (`approvedA`, `approvedB`):
    ///         propose only once; the other party affirms.
    error SettlementAlreadyProposed(bytes32 id, bool approvedA, bool approvedB);

    /// @notice Instruction `id` cannot be affirmed by `caller`: the other party has not proposed
    ///         it, or `caller` already consented.
    error SettlementNotProposed(bytes32 id, address caller);

    /// @notice A batch needs at least one instruction.
    error SettlementEmptyBatch();

    /// @notice Only this contract calls {executeSelf} (from a batch or an affirmation); `caller`
    ///         is not it.
    error SettlementOnlySelf(address caller);

    /// @notice Only the netting contract ({netting}) locks, delivers and releases instructions;
    ///         `caller` is not it.
    error SettlementOnlyNetting(address caller);

    /// @notice Instruction `id` (nonce `nonce`) is `state`, not Locked: the netting contract can
    ///         only deliver or release an instruction it locked.
    error SettlementNotLocked(bytes32 id, uint256 nonce, InstructionState state);

    /// @notice `gasLeft` is too little to give the next instruction of a batch its full
    ///         {INSTRUCTION_GAS} allowance: send the batch with more gas (or fewer instructions),
    ///         so that no instruction fails merely for want of gas.
    error SettlementInsufficientGas(uint256 gasLeft, uint256 needed);

    // ------------------------------------------------------------------ settlement

    /// @notice Settles `instruction`: both legs move, or the call reverts and nothing moves.
    /// @dev Anyone may send it. Each party consents by its signature (`signatureA`,
    ///      `signatureB`: 65-byte ECDSA, or ERC-1271 for a contract party), by being the sender,
    ///      or by an earlier on-chain approval (pass empty bytes). Reverts with this contract's
    ///      errors or with the token's error when a leg cannot move.
    /// @return id The instruction's id.
    function settle(Instruction calldata instruction, bytes calldata signatureA, bytes calldata signatureB)
        external
        returns (bytes32 id);

    /// @notice Settles each instruction of `batch` on its own: both of its legs or neither.
    ///         A failure never stops the others: it emits {SettlementFailed} with the reason and
    ///         leaves that instruction as it was.
    /// @dev Each instruction runs in its own call frame with {INSTRUCTION_GAS} at most; the
    ///      batch reverts with {SettlementInsufficientGas} rather than starve one.
    /// @return settled `settled[i]` is true when `batch[i]` settled.
    function settleBatch(SignedInstruction[] calldata batch) external returns (bool[] memory settled);

    /// @notice Records the caller's (a party's) consent to `instruction`, for a party that cannot
    ///         sign off-chain. The other party then affirms it (or signs it).
    /// @return id The instruction's id.
    function propose(Instruction calldata instruction) external returns (bytes32 id);

    /// @notice Records the caller's consent to an instruction the other party proposed, and
    ///         tries to settle it at once. If the legs cannot move the affirmation stands, the
    ///         instruction stays `Affirmed` and {SettlementFailed} says why: anyone may settle it
    ///         later with {settle} and empty signatures, until its deadline.
    /// @return settled True when the instruction settled in this call.
    function affirm(Instruction calldata instruction) external returns (bool settled);

    /// @notice Cancels `instruction` (caller: either party) before it settles: its nonce is spent,
    ///         so neither this instruction nor any other with the same nonce between the two
    ///         parties can settle. Works with or without any signature or on-chain consent.
    /// @return id The instruction's id.
    function cancel(Instruction calldata instruction) external returns (bytes32 id);

    /// @notice Moves both legs of `instruction`. Callable only by this contract itself, so that a
    ///         batch or an affirmation can revert one instruction without reverting the rest.
    function executeSelf(Instruction calldata instruction, bytes32 id, bool clearApprovals) external;

    // ------------------------------------------------------------------ netting

    /// @notice Locks `instruction` for netting round `roundId` (caller: the netting contract).
    ///         Reverts with the errors {settle} would give if it could not settle now (consent,
    ///         deadline, nonce), and with {SettlementNotParty} if the netting contract is a party.
    /// @return id The instruction's id.
    function lockForNetting(
        Instruction calldata instruction,
        bytes calldata signatureA,
        bytes calldata signatureB,
        uint256 roundId
    ) external returns (bytes32 id);

    /// @notice Moves only the delivery leg of a locked instruction (`amountA` of `tokenA`, partyA
    ///         -> partyB) and spends its nonce (caller: the netting contract, settling round
    ///         `roundId`, whose net cash includes the cash leg). Reverts if the leg cannot move.
    /// @dev This contract checks that the instruction's nonce is locked; that the instruction is
    ///      the one the round locked (and not another of the pair with that nonce) is the netting
    ///      contract's check: it holds the state of the instruction's cash leg, keyed by its id.
    /// @return id The instruction's id.
    function deliverNetted(Instruction calldata instruction, uint256 roundId) external returns (bytes32 id);

    /// @notice Unlocks a locked instruction that round `roundId` no longer includes (caller: the
    ///         netting contract). On-chain approvals recorded before it was locked stand.
    /// @return id The instruction's id.
    function releaseFromNetting(Instruction calldata instruction, uint256 roundId) external returns (bytes32 id);

    // ------------------------------------------------------------------ views

    /// @notice The netting contract this contract trusts (zero: none).
    function netting() external view returns (address);

    /// @notice Gas each instruction of a batch (and the settlement in {affirm}) may use.
    function INSTRUCTION_GAS() external view returns (uint256);

    /// @notice Longest revert reason {SettlementFailed} carries; longer ones are cut.
    function MAX_REASON_BYTES() external view returns (uint256);

    /// @notice The EIP-712 type hash of {Instruction}.
    function INSTRUCTION_TYPEHASH() external view returns (bytes32);

    /// @notice The id of `instruction`: its EIP-712 digest, which the parties sign.
    function hashInstruction(Instruction calldata instruction) external view returns (bytes32);

    /// @notice Where `instruction` stands.
    function stateOf(Instruction calldata instruction) external view returns (InstructionState);

    /// @notice Which parties of instruction `id` have consented on-chain (cleared on settlement
    ///         and cancellation).
    function approvalsOf(bytes32 id) external view returns (bool approvedA, bool approvedB);

    /// @notice Fate of `nonce` between `partyA` and `partyB` (in either order): `Pending` while
    ///         unspent, else `Settled` or `Cancelled`.
    function nonceState(address partyA, address partyB, uint256 nonce) external view returns (InstructionState);

    /// @notice Raw nonce word `wordIndex` of the pair: two bits per nonce (nonce `128 * wordIndex
    ///         + k` at bits `2k`, `2k + 1`): 0 unspent, 1 settled, 2 cancelled, 3 locked for
    ///         netting. For finding free nonces off-chain.
    function nonceWord(address partyA, address partyB, uint256 wordIndex) external view returns (uint256);
}
