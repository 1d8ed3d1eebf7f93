# The bank sample: accounts that hold, settle and release funds, a process manager per money
# transfer, and the customer notices of each transfer's outcome. Amounts are Int64 cents.
@0xde39bc82fe70712e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("bank");

# ---- accounts: entity "account", keyed by account id ----

struct Hold {
  transferId @0 :Text;
  amount @1 :Int64;
}

# What an account answered for a transfer, kept so that a repeated request gets the same answer.
struct Outcome {
  transferId @0 :Text;
  amount @1 :Int64;
  kind @2 :Kind;
  reason @3 :RejectReason;   # for holdRejected and creditRejected
  enum Kind {
    holdRejected @0;
    holdSettled @1;
    holdReleased @2;
    credited @3;
    creditRejected @4;
  }
}

enum RejectReason {
  none @0;
  insufficientFunds @1;
  accountClosed @2;
  unknownAccount @3;
  invalidAmount @4;
  sameAccount @5;
}

struct Account {
  accountId @0 :Text;
  status @1 :Status;
  balance @2 :Int64;          # never negative; available = balance - sum(holds)
  holds @3 :List(Hold);       # funds reserved for transfers not yet settled or released
  outcomes @4 :List(Outcome); # answers given for transfers whose hold or credit is final
  enum Status {
    unknown @0;               # the initial state: never opened
    open @1;
    closed @2;
  }
}

struct OpenAccount { accountId @0 :Text; initialBalance @1 :Int64; }
struct CloseAccount { accountId @0 :Text; }

struct PlaceHold { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }
struct HoldPlaced { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }
struct HoldRejected { transferId @0 :Text; accountId @1 :Text; reason @2 :RejectReason; }

struct SettleHold { transferId @0 :Text; accountId @1 :Text; }
struct HoldSettled { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }

struct ReleaseHold { transferId @0 :Text; accountId @1 :Text; }
struct HoldReleased { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }

struct Credit { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }
struct Credited { transferId @0 :Text; accountId @1 :Text; amount @2 :Int64; }
struct CreditRejected { transferId @0 :Text; accountId @1 :Text; reason @2 :RejectReason; }

# ---- transfers: entity "transfer", keyed by transfer id ----

struct Transfer {
  transferId @0 :Text;
  from @1 :Text;
  to @2 :Text;
  amount @3 :Int64;
  step @4 :Step;
  reason @5 :RejectReason;    # why it failed or was compensated
  startedAt @6 :Int64;        # ns since the epoch, from the context's now()
  finishedAt @7 :Int64;
  enum Step {
    notStarted @0;            # the initial state
    holding @1;               # PlaceHold sent to the source
    crediting @2;             # Credit sent to the target
    settling @3;              # SettleHold sent to the source
    compensating @4;          # ReleaseHold sent to the source
    completed @5;
    failed @6;
    compensated @7;
  }
}

struct StartTransfer { transferId @0 :Text; from @1 :Text; to @2 :Text; amount @3 :Int64; }

# The answer to a StartTransfer that asked for one (it came with a reply-to, e.g. through the HTTP
# gateway): accepted means the transfer is under way (or was started before under this id);
# otherwise reason says why it failed at once. The outcome itself is published when it ends.
struct TransferAcceptance {
  transferId @0 :Text;
  accepted @1 :Bool;
  reason @2 :RejectReason;
  step @3 :Transfer.Step;     # the transfer's step once the StartTransfer was handled
}

# Published when a transfer ends.
struct TransferCompleted { transferId @0 :Text; from @1 :Text; to @2 :Text; amount @3 :Int64; }
struct TransferFailed { transferId @0 :Text; from @1 :Text; reason @2 :RejectReason; }
struct TransferCompensated { transferId @0 :Text; from @1 :Text; reason @2 :RejectReason; }

# ---- notifications: entity "notification", keyed by transfer id ----

struct Notification {
  transferId @0 :Text;
  notices @1 :UInt32;         # how many outcome notices reached the customer
  outcome @2 :Outcome;
  firstNotifiedAt @3 :Int64;
  enum Outcome {
    none @0;
    completed @1;
    failed @2;
    compensated @3;
  }
}
