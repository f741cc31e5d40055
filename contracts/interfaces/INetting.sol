// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {Instruction} from "./IAtomicSettlement.sol";

/// @notice A gross payment obligation of one netting round: `payer` owes `amount` of the netting
///         contract's cash token to `payee`.
/// @dev Its id is its EIP-712 digest under the netting contract's domain
///      (`Obligation(uint256 roundId,address payer,address payee,uint256 amount,bytes32 ref)`), so a
///      consent binds the chain, the contract, the round and every field. `ref` tells apart two
///      obligations with the same parties and amount in one round (a trade id, an invoice number).
struct Obligation {
    uint256 roundId;
    address payer;
    address payee;
    /// Units of cash (its smallest unit), at most 2^96 - 1.
    uint256 amount;
    bytes32 ref;
}

/// @notice An obligation with each party's consent: an EIP-712 signature of the obligation, or
///         empty bytes for the party that sends the transaction.
struct SignedObligation {
    Obligation obligation;
    bytes payerSignature;
    bytes payeeSignature;
}

/// @notice Where a netting round stands.
/// @dev None -> Collecting -> Closed -> Verified -> Settled; an exclusion, or the removal of
///      instructions whose delivery failed, sends a Closed or Verified round back to Closed (nets
///      needed again). Any round not Settled becomes Expired
///      once `deadline + EXPIRY_PERIOD` has passed: nothing settles any more and every unit held
///      for it can be withdrawn by the member that paid it in. Expired is derived from the clock,
///      never stored.
enum RoundState {
    None,
    Collecting,
    Closed,
    Verified,
    Settled,
    Expired
}

/// @notice Fate of an obligation id: None (never registered), Registered (counts in its round's
///         nets), Removed (its payer or payee was excluded, or, for a DvP cash leg, its
///         instruction was released: its round expired or its delivery failed; it no longer
///         counts and can never be registered again), Delivery (the cash leg of a DvP
///         instruction entered into the round: counts in the nets like Registered, and settles
///         with the instruction's delivery leg), Failed (a Delivery whose delivery leg failed in
///         an attempt to settle the round: it still counts, and anyone may remove it
///         ({removeFailed}); a later settlement that delivers it turns it back into Delivery).
enum ObligationState {
    None,
    Registered,
    Removed,
    Delivery,
    Failed
}

/// @notice A round as {INetting-roundOf} returns it.
struct RoundInfo {
    address opener;
    /// Last second (inclusive) at which obligations may be registered.
    uint256 cutoff;
    /// Funding deadline: after it, members that cannot fund their net debit may be excluded.
    uint256 deadline;
    RoundState state;
    /// Sum of the amounts of the round's registered (not removed) obligations.
    uint256 grossValue;
    /// Sum of the positive nets: what moves if the round settles now.
    uint256 netValue;
    /// Registered (not removed) obligations.
    uint256 obligationCount;
    /// Members that ever had an obligation in the round (excluded ones included).
    uint256 memberCount;
    uint256 excludedCount;
    /// Cash held by the contract for this round, owed to the members that paid it in.
    uint256 escrowed;
    /// DvP instructions entered and not released (their cash legs are among the obligations).
    uint256 instructionCount;
}

/// @title INetting
/// @notice Multilateral netting of payment obligations in one cash token, without a central
///         counterparty: the contract never becomes a party to any obligation.
///
///         Round. Anyone onboarded opens a round with a registration cutoff and a funding
///         deadline. Members register gross obligations: both payer and payee consent (EIP-712
///         signature, or being the sender). The contract keeps, per member, the running net
///         (incoming minus outgoing) of the round, so nothing has to be re-read later. The opener
///         closes the round (or anyone, after the cutoff).
///
///         Nets. Anyone submits the net position of every member of the round, in the order of
///         {membersOf}, computed off-chain. The contract checks, in one pass over the members,
///         that the vector sums to zero and that each entry equals the member's incoming minus
///         outgoing obligations; a wrong vector reverts and names the first wrong member.
///
///         Settlement. Every member with a net debit pays it from cash it pre-funded into the
///         round ({fund}) and, for the rest, from its wallet (it approves this contract); then
///         every member with a net credit is paid. One transaction, all or nothing.
///
///         Exclusion. After the funding deadline, anyone may exclude a member that cannot fund
///         its net debit (pre-funding plus what its wallet balance and allowance let this
///         contract pull) or, being no longer onboarded, cannot take part at all. Its
///         obligations are removed (the caller lists them; the contract checks the list is
///         complete), every counterparty's net is adjusted, and the round needs its nets again.
///         Only the excluded member's direct counterparties lose what it owed them; every other
///         member at most waits.
///
///         Escrow. Cash pre-funded for a round is owed to the member that paid it in: the part
///         above its net debit can be withdrawn at any time, all of it once the round settled
///         or expired, or once the member was excluded.
///
///         DvP cash legs. A pending DvP instruction of the settlement contract ({settlement})
///         whose payment leg is in the round's cash can be entered into a collecting round by
///         anyone holding both parties' consent ({enterInstruction}; the signed instruction is
///         the consent, no other signature is asked). The settlement contract checks the
///         instruction as it would for a settlement and locks it: neither party can settle or
///         cancel it separately any more. Its cash leg becomes an ordinary obligation of the
///         round (buyer partyB owes `amountB` to seller partyA, `ref` = the instruction's id),
///         so only net cash moves. When the round settles, the delivery leg of every entered
///         instruction moves in the same transaction, after the net cash: if any cannot move,
///         nothing moves (see Failed deliveries). After the deadline, a member that cannot deliver
///         (balance or allowance to the settlement contract short, or not onboarded) may be
///         excluded like one that cannot pay; its instructions are then released (pending
///         again, to settle bilaterally or be cancelled). An expired round's instructions can
///         be released by anyone ({releaseInstructions}). The parties' deadline is checked on
///         entry and must be at or after the round's funding deadline; a locked instruction
///         does not expire while its round runs. That rule also bounds how long a round can
///         hold an instruction against its parties' will: from the round's funding deadline
///         (within the parties' own), a party that does not fund or deliver can be excluded
///         and the instruction released, so anyone who enters a signed instruction into a
///         round far in the future is refused.
///
///         Failed deliveries. A delivery token is arbitrary code: its views (`balanceOf`,
///         `allowance`) may say it can move while its `transferFrom` refuses, burns all gas, or
///         behaves differently when probed. So a failed delivery is not judged from views; it is
///         proven by attempting it. With instructions, {settle} runs its whole body (checks, net
///         cash, deliveries) in a call to itself ({settleSelf}); each delivery is tried on its
///         own with at most {DELIVERY_GAS}, the others are tried all the same, and if any failed
///         the inner call reverts (nothing moved) with {NettingDeliveriesFailed}. Before the
///         funding deadline {settle} reverts with it (a seller has until the deadline to be able
///         to deliver, as a debtor has to fund). After it, {settle} records each failure
///         (the cash leg becomes Failed), emits {DeliveryFailed} and returns without reverting,
///         so the proof persists. Anyone may then remove a failed instruction ({removeFailed}):
///         only that instruction leaves the round (its cash leg unbooked from both nets, the
///         instruction released in the settlement contract: pending again), not its parties'
///         other obligations, since the buyer or the token may be at fault rather than the
///         seller; the round needs its nets again and settles without it. A caller cannot fake
///         a failure by sending too little gas: a failed attempt that was not given its whole
///         {DELIVERY_GAS} reverts the settlement ({NettingInsufficientGas}).
///         Trust assumption: the worst a delivery token can do to a round is have its own
///         instructions removed (and cost the settler one attempt of at most {DELIVERY_GAS} per
///         instruction); it cannot block the round past its funding deadline, move anything in
///         a settlement that fails, or re-enter this contract ({settle} holds its guard).
///
///         Settling, excluding and releasing take the instructions concerned as arguments (from
///         {InstructionEntered}); the contract stores only their count per round, checks each
///         and that the list is complete, so every call stays linear in members plus
///         instructions.
///
///         EIP-712 (what a client needs to consent to an {Obligation} without this project's
///         toolkit):
///         - Domain: name "NettingEngine", version "1", `chainId` the chain's id,
///           `verifyingContract` this contract; no salt. {eip712Domain} (EIP-5267) returns them.
///         - Type, exactly as hashed (it references no other type):
///           `Obligation(uint256 roundId,address payer,address payee,uint256 amount,bytes32 ref)`
///           There is no `bytes` or `string` field (`ref` is a `bytes32`, one word as it is):
///           every field is one 32-byte word of the struct hash.
///         - Digest: `keccak256("\x19\x01" || domainSeparator || hashStruct(obligation))`, which is
///           also the obligation's id ({hashObligation}); payer and payee sign the same digest.
///         - Signature: 65 bytes `r || s || v` (32 + 32 + 1), `v` 27 or 28, `s` in the lower half
///           of the curve order (OpenZeppelin's ECDSA refuses the upper half as malleable), as
///           `eth_signTypedData_v4` returns it. When it does not recover to the party, the party
///           is asked ERC-1271 `isValidSignature(digest, signature)`: a party that is a contract
///           (a Safe, a bank's wallet) signs with whatever bytes it accepts.
///           An empty signature is no consent by signature: the party then consents by sending
///           the transaction itself.
///         A DvP instruction entered with {enterInstruction} carries the settlement contract's
///         signatures ({IAtomicSettlement}, "EIP-712"), not this contract's.
interface INetting is IERC5267 {
    // ------------------------------------------------------------------ events

    /// @notice Round `roundId` opened by `opener`: obligations until `cutoff`, funding until `deadline`.
    event RoundOpened(uint256 indexed roundId, address indexed opener, uint256 cutoff, uint256 deadline);

    /// @notice Obligation `id`: `payer` owes `amount` to `payee` in round `roundId`.
    event ObligationRegistered(
        uint256 indexed roundId,
        bytes32 indexed id,
        address indexed payer,
        address payee,
        uint256 amount,
        bytes32 ref
    );

    /// @notice Round `roundId` takes no more obligations; `closer` closed it.
    event RoundClosed(uint256 indexed roundId, address indexed closer, uint256 grossValue, uint256 netValue);

    /// @notice `member`'s verified net position in round `roundId` (positive: it receives).
    event NetPosition(uint256 indexed roundId, address indexed member, int256 net);

    /// @notice The nets of round `roundId` were submitted by `submitter` and verified.
    event NetsVerified(uint256 indexed roundId, address indexed submitter, uint256 grossValue, uint256 netValue);

    /// @notice `member` paid `amount` into round `roundId`'s escrow, now holding `funded` for it.
    event Funded(uint256 indexed roundId, address indexed member, uint256 amount, uint256 funded);

    /// @notice `member` took `amount` back from round `roundId`'s escrow, now holding `funded` for it.
    event FundingWithdrawn(uint256 indexed roundId, address indexed member, uint256 amount, uint256 funded);

    /// @notice Obligation `id` no longer counts in round `roundId`: its payer or payee was excluded.
    ///         `payee` keeps its claim of `amount` on `payer` outside the round.
    event ObligationRemoved(
        uint256 indexed roundId, bytes32 indexed id, address indexed payer, address payee, uint256 amount
    );

    /// @notice `member` was excluded from round `roundId` by `caller`: its `obligations`
    ///         obligations were removed. It owed `owedToOthers` gross and was owed `owedByOthers`;
    ///         its net debit was `required` and it could fund `available`.
    event MemberExcluded(
        uint256 indexed roundId,
        address indexed member,
        address indexed caller,
        uint256 obligations,
        uint256 owedToOthers,
        uint256 owedByOthers,
        uint256 required,
        uint256 available
    );

    /// @notice `member`'s net moved in round `roundId`: a debit (`net < 0`) paid, `fromEscrow` of it
    ///         from its pre-funding and the rest from its wallet, or a credit (`net > 0`) received.
    event NetSettled(uint256 indexed roundId, address indexed member, int256 net, uint256 fromEscrow);

    /// @notice DvP instruction `instructionId` entered round `roundId`; its cash leg is obligation
    ///         `obligationId` (registered in the same transaction).
    event InstructionEntered(
        uint256 indexed roundId, bytes32 indexed instructionId, bytes32 indexed obligationId, Instruction instruction
    );

    /// @notice Round `roundId` no longer includes instruction `instructionId` (a party was
    ///         excluded, the round expired, or its delivery failed and it was removed); its cash
    ///         leg was removed and the settlement contract unlocks it.
    event InstructionReleased(uint256 indexed roundId, bytes32 indexed instructionId);

    /// @notice An attempt to settle round `roundId` (after its funding deadline) could not move
    ///         the delivery leg of instruction `instructionId`, whose seller is `seller`; nothing
    ///         moved. `reason` is the revert data of the attempt (the token's or the settlement
    ///         contract's error; empty when it ran out of its {DELIVERY_GAS}), at most
    ///         {MAX_REASON_BYTES} long. Anyone may now remove the instruction ({removeFailed}).
    event DeliveryFailed(uint256 indexed roundId, bytes32 indexed instructionId, address indexed seller, bytes reason);

    /// @notice Round `roundId` settled: `netValue` moved for `grossValue` of obligations.
    event RoundSettled(uint256 indexed roundId, uint256 grossValue, uint256 netValue, uint256 obligations);

    // ------------------------------------------------------------------ errors

    /// @notice No round `roundId` was ever opened.
    error NettingUnknownRound(uint256 roundId);

    /// @notice Round `roundId` is `actual`; the call needs it `expected`.
    error NettingInvalidState(uint256 roundId, RoundState expected, RoundState actual);

    /// @notice A round needs `timestamp <= cutoff <= deadline < 2^40`.
    error NettingInvalidSchedule(uint256 cutoff, uint256 deadline, uint256 timestamp);

    /// @notice Obligations for round `roundId` closed at `cutoff`; it is now `timestamp`.
    error NettingCutoffPassed(uint256 roundId, uint256 cutoff, uint256 timestamp);

    /// @notice Only the opener closes round `roundId` before its `cutoff`; `caller` is not it.
    error NettingCutoffNotReached(uint256 roundId, address caller, uint256 cutoff, uint256 timestamp);

    /// @notice Exclusions wait for round `roundId`'s funding `deadline`; it is now `timestamp`.
    error NettingDeadlineNotReached(uint256 roundId, uint256 deadline, uint256 timestamp);

    /// @notice An obligation's amount must be in [1, 2^96 - 1]; got `amount`.
    error NettingInvalidAmount(bytes32 id, uint256 amount);

    /// @notice Obligation `id` names `party` as payer and payee.
    error NettingSameParty(bytes32 id, address party);

    /// @notice Obligation `id` is already `state`: nothing is registered twice (use another `ref`).
    error NettingObligationExists(bytes32 id, ObligationState state);

    /// @notice `party` has not consented to obligation `id`: it did not send the transaction and
    ///         its signature is missing or does not verify (wrong signer, chain, contract or fields).
    error NettingUnauthorized(bytes32 id, address party);

    /// @notice A batch needs at least one obligation.
    error NettingEmptyBatch();

    /// @notice The submitted vector has `given` entries; round `roundId` has `expected` members.
    error NettingNetsLength(uint256 roundId, uint256 expected, uint256 given);

    /// @notice The submitted nets of round `roundId` sum to `sum`, not zero.
    error NettingNetsNotBalanced(uint256 roundId, int256 sum);

    /// @notice The submitted net of `member` is `given`; its obligations make it `expected`.
    error NettingNetMismatch(uint256 roundId, address member, int256 expected, int256 given);

    /// @notice `member` has no obligation in round `roundId`.
    error NettingNotMember(uint256 roundId, address member);

    /// @notice `member` is already excluded from round `roundId`.
    error NettingAlreadyExcluded(uint256 roundId, address member);

    /// @notice `member` can fund its net debit `required` (it can fund `available`) and can take
    ///         part: it cannot be excluded.
    error NettingMemberNotShort(uint256 roundId, address member, uint256 required, uint256 available);

    /// @notice Obligation `id` is not a registered obligation of `member` in round `roundId`.
    error NettingNotObligationOf(uint256 roundId, address member, bytes32 id, ObligationState state);

    /// @notice The exclusion of `member` listed too few of its obligations: `remaining` are left.
    ///         Read them from {ObligationRegistered} events (or {dfmi_py}) and list them all.
    error NettingExclusionIncomplete(uint256 roundId, address member, uint256 remaining);

    /// @notice A zero amount.
    error NettingZeroAmount();

    /// @notice `member` may withdraw `free` of its funding of round `roundId`, not `amount`.
    error NettingWithdrawalExceedsFree(uint256 roundId, address member, uint256 free, uint256 amount);

    /// @notice This contract was deployed without a settlement contract: no instruction can enter.
    error NettingNoSettlement();

    /// @notice `settlement` trusts `trusted` as its netting contract, not this one.
    error NettingSettlementMismatch(address settlement, address trusted);

    /// @notice The payment leg of an instruction entering round `roundId` is in `token`, not in
    ///         the round's cash.
    error NettingNotCashLeg(uint256 roundId, address token);

    /// @notice The instruction's `deadline` is before round `roundId`'s funding `roundDeadline`.
    error NettingInstructionDeadline(uint256 roundId, uint256 deadline, uint256 roundDeadline);

    /// @notice Round `roundId` has `expected` instructions; `given` were listed (list them all,
    ///         from {InstructionEntered}, less the released ones).
    error NettingInstructionsIncomplete(uint256 roundId, uint256 expected, uint256 given);

    /// @notice Instruction `instructionId` is not entered in round `roundId`: its cash leg there is `state`.
    error NettingNotInstructionOf(uint256 roundId, bytes32 instructionId, ObligationState state);

    /// @notice A value does not fit the contract's storage (more than 2^32 obligations, or sums
    ///         beyond 2^127).
    error NettingOverflow();

    /// @notice The settlement of round `roundId` listed instruction `instructionId` twice (list
    ///         each of the round's instructions once).
    error NettingDuplicateInstruction(uint256 roundId, bytes32 instructionId);

    /// @notice Only this contract calls {settleSelf} (from {settle}); `caller` is not it.
    error NettingOnlySelf(address caller);

    /// @notice The delivery legs of the instructions at `indices` of the list (ids
    ///         `instructionIds`) could not move in an attempt to settle round `roundId`; each
    ///         attempt's revert data is in `reasons` (at most {MAX_REASON_BYTES} each). The
    ///         attempt moved nothing. Raised by {settleSelf} for {settle}, which records the
    ///         failures after the funding deadline and re-raises this error before it (the
    ///         sellers may still make their deliveries possible).
    error NettingDeliveriesFailed(uint256 roundId, uint256[] indices, bytes32[] instructionIds, bytes[] reasons);

    /// @notice A delivery failed with only `gasLeft` gas available before it: too little to give
    ///         it its whole {DELIVERY_GAS} (63/64 of the gas left goes to a call), so the failure
    ///         proves nothing. Send the settlement with more gas (`needed` at that point).
    error NettingInsufficientGas(uint256 gasLeft, uint256 needed);

    /// @notice Instruction `instructionId` cannot be removed from round `roundId` as failed: its
    ///         cash leg there is `state`, not Failed (it did not fail, was already removed, or
    ///         belongs to another round).
    error NettingDeliveryNotFailed(uint256 roundId, bytes32 instructionId, ObligationState state);

    // ------------------------------------------------------------------ rounds

    /// @notice Opens a round (caller: any onboarded account).
    /// @param cutoff Last second at which obligations may be registered.
    /// @param deadline Funding deadline (at or after `cutoff`).
    /// @return roundId The new round's id (1, 2, ...).
    function openRound(uint256 cutoff, uint256 deadline) external returns (uint256 roundId);

    /// @notice Registers an obligation; both parties consent (signature or sender).
    /// @return id The obligation's id.
    function register(Obligation calldata obligation, bytes calldata payerSignature, bytes calldata payeeSignature)
        external
        returns (bytes32 id);

    /// @notice Registers every obligation of `batch`, or none (the first failure reverts).
    function registerBatch(SignedObligation[] calldata batch) external;

    /// @notice Enters a pending DvP instruction into collecting round `roundId` (anyone may send
    ///         it): the settlement contract checks both parties' consent (`signatureA`,
    ///         `signatureB`, or their on-chain approvals) and locks it, and its cash leg is
    ///         registered as the obligation partyB -> partyA of `amountB`, `ref` = `instructionId`.
    ///         `tokenB` must be the round's cash, both parties onboarded, and the instruction's
    ///         deadline at or after the round's funding deadline.
    function enterInstruction(
        uint256 roundId,
        Instruction calldata instruction,
        bytes calldata signatureA,
        bytes calldata signatureB
    ) external returns (bytes32 instructionId, bytes32 obligationId);

    /// @notice Closes round `roundId` to new obligations (the opener at any time, anyone after the cutoff).
    function close(uint256 roundId) external;

    /// @notice Submits and verifies the nets of a Closed round, one per member in {membersOf}
    ///         order (zero for excluded members). The round becomes Verified.
    function submitNets(uint256 roundId, int256[] calldata nets) external;

    /// @notice Moves every net of a Verified round: debits in (pre-funding first, then wallet),
    ///         credits out, then the delivery leg of every instruction in the round. All or
    ///         nothing. Anyone may send it.
    /// @dev With instructions, the body runs in {settleSelf}. If some deliveries fail, nothing
    ///      moves; before the funding deadline this call reverts with {NettingDeliveriesFailed};
    ///      after it, each failure is recorded ({DeliveryFailed}, cash leg Failed) and this call
    ///      returns without reverting, the round still Verified. Any other failure (a debtor's
    ///      cash, a wrong list, {NettingInsufficientGas}) reverts with its own error.
    /// @param instructions Every instruction entered into the round and not released, each once,
    ///        in the order their deliveries are tried (a seller that delivers what it receives in
    ///        the same round is listed after the delivery it receives).
    function settle(uint256 roundId, Instruction[] calldata instructions) external;

    /// @notice The body of {settle} for a round with instructions: checks the list, moves the net
    ///         cash, then tries every delivery leg with at most {DELIVERY_GAS} each; reverts with
    ///         {NettingDeliveriesFailed} if any failed. Callable only by this contract itself, so
    ///         that {settle} can keep the proof of a failure while everything else is reverted.
    function settleSelf(uint256 roundId, Instruction[] calldata instructions) external;

    /// @notice Removes instructions whose delivery failed ({DeliveryFailed}) from a Closed or
    ///         Verified round (anyone may send it): each one's cash leg is unbooked from both
    ///         parties' nets and the settlement contract releases it (pending again, to settle
    ///         bilaterally or be cancelled by a party). The parties' other obligations stay. The
    ///         round is Closed: submit its nets again.
    /// @param instructions Instructions of the round whose cash legs are Failed.
    function removeFailed(uint256 roundId, Instruction[] calldata instructions) external;

    /// @notice Excludes `member` from a Closed or Verified round after its funding deadline,
    ///         when it cannot fund its net debit or receive its net credit, or cannot deliver the
    ///         legs of its instructions (or is not onboarded while it has some). Its obligations
    ///         are removed and its instructions released.
    /// @param obligations All of its Registered obligations in the round.
    /// @param instructions All of the round's instructions it is a party to.
    function exclude(
        uint256 roundId,
        address member,
        Obligation[] calldata obligations,
        Instruction[] calldata instructions
    ) external;

    /// @notice Releases instructions of an Expired round (anyone may send it): their cash legs
    ///         are removed and the settlement contract unlocks them.
    function releaseInstructions(uint256 roundId, Instruction[] calldata instructions) external;

    // ------------------------------------------------------------------ escrow

    /// @notice The caller pays `amount` into round `roundId`'s escrow (approve this contract first).
    function fund(uint256 roundId, uint256 amount) external;

    /// @notice The caller takes back `amount` of its funding of round `roundId` (see {freeFundingOf}).
    function withdrawFunding(uint256 roundId, uint256 amount) external;

    // ------------------------------------------------------------------ views

    /// @notice Seconds after a round's funding deadline at which an unsettled round expires.
    function EXPIRY_PERIOD() external view returns (uint256);

    /// @notice Largest obligation amount.
    function MAX_AMOUNT() external view returns (uint256);

    /// @notice Gas each delivery leg may use in a settlement (generous for a compliant token,
    ///         which needs about 40,000): a token that burns gas costs the settler this much, no
    ///         more, and cannot starve the other deliveries.
    function DELIVERY_GAS() external view returns (uint256);

    /// @notice Longest revert reason {DeliveryFailed} and {NettingDeliveriesFailed} carry per
    ///         delivery; longer ones are cut.
    function MAX_REASON_BYTES() external view returns (uint256);

    /// @notice The EIP-712 type hash of {Obligation}.
    function OBLIGATION_TYPEHASH() external view returns (bytes32);

    /// @notice Rounds opened so far (the last round's id).
    function roundCount() external view returns (uint256);

    /// @notice Where round `roundId` stands.
    function stateOf(uint256 roundId) external view returns (RoundState);

    /// @notice Round `roundId` in full.
    function roundOf(uint256 roundId) external view returns (RoundInfo memory);

    /// @notice The members of round `roundId` in the order nets are submitted.
    function membersOf(uint256 roundId) external view returns (address[] memory);

    /// @notice The accumulated nets of round `roundId`, in {membersOf} order.
    function netsOf(uint256 roundId) external view returns (int256[] memory);

    /// @notice `member`'s position in round `roundId`.
    /// @return net Incoming minus outgoing registered obligations.
    /// @return obligations Its registered (not removed) obligations.
    /// @return excluded True once excluded.
    /// @return funded Cash it holds in the round's escrow.
    function positionOf(uint256 roundId, address member)
        external
        view
        returns (int256 net, uint256 obligations, bool excluded, uint256 funded);

    /// @notice Gross value of the round's obligations and the net value that moves (sum of
    ///         positive nets); the compression is `1 - net / gross`.
    function compressionOf(uint256 roundId) external view returns (uint256 grossValue, uint256 netValue);

    /// @notice What `member` must fund in round `roundId` (its net debit) and what it can
    ///         (pre-funding, plus what this contract can pull from its wallet; zero when it is
    ///         not onboarded).
    function fundingOf(uint256 roundId, address member) external view returns (uint256 required, uint256 available);

    /// @notice The part of `member`'s funding of round `roundId` that it may withdraw now.
    function freeFundingOf(uint256 roundId, address member) external view returns (uint256);

    /// @notice Fate of obligation `id`.
    function obligationStateOf(bytes32 id) external view returns (ObligationState);

    /// @notice The id of `obligation`: its EIP-712 digest, which the parties sign.
    function hashObligation(Obligation calldata obligation) external view returns (bytes32);
}
