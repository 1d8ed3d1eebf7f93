/*
 * idem: a SPIN/Promela model of the state-based exactly-once algorithm as implemented in
 * framework/pipeline.cpp (Pipeline::process, handleInput, handleNew, handleDuplicate,
 * publishAndAck, flushPublished) over the embedded bus of include/idem/embedded_transport.h
 * (leases, expiry, redelivery, competing consumers; settling a stale delivery is a no-op).
 * docs/model.md says what is modelled, what is not, and the figures. model/check.sh runs it.
 *
 * Configuration (defaults; override with spin -DNAME=value):
 *   2 consumers of endpoint A sharing one store; 3 logical inputs: m0 and m1 on entity 0,
 *   m2 on entity 1; MAXDUP extra copies from the sender/broker; up to MAXCRASH consumer crashes
 *   at any step of the pipeline; up to MAXEXPIRE lease expiries of a live (slow) consumer whose
 *   delivery the other consumer then takes over; batches of 1 or 2 deliveries (group commit);
 *   downstream endpoint B applies each output id once (the chain A -> B).
 *   PARTIAL_PUBLISH: outputs are accepted one by one (NATS), a crash may fall after k of n.
 *
 * Mutations (each must give a counterexample; model/check.sh runs them):
 *   BUG_PUBLISH_BEFORE_COMMIT     the batch's outputs are published before its transaction
 *   BUG_REPLAY_ON_CURRENT_STATE   a duplicate is re-run on the head state, not on version p-1
 *   NO_DIGEST_CHECK               (with the above) the recorded digest is not compared: the
 *                                 "alternative worlds" output reaches the transport
 *   BUG_ACK_BEFORE_COMMIT         the batch is acked as soon as it is received
 *   BUG_NO_PUBLICATION_SET        committed inputs are never put in the publication set, i.e.
 *                                 "published" is assumed at commit (watermark before publish)
 *   BUG_NO_DEDUP                  the applied index is not consulted: every copy is new
 *   BUG_LEASE_NEVER_EXPIRES       a crashed consumer's leases are never given back
 */

#ifndef MAXDUP
#define MAXDUP 2
#endif
#ifndef MAXCRASH
#define MAXCRASH 2
#endif
#ifndef MAXEXPIRE
#define MAXEXPIRE 1
#endif

/* Witnesses (vacuity checks): compiled with -DWITNESS_x, the model asserts that scenario x
 * never happens, so the check must FAIL: proof that the correct model does reach it. */
#ifdef WITNESS_REPLAY_AFTER_MOVE
#define W_REPLAY_AFTER_MOVE(x) assert(!(x) && WITNESS_reached)
#else
#define W_REPLAY_AFTER_MOVE(x) skip
#endif
#ifdef WITNESS_ALREADY_PUBLISHED
#define W_ALREADY_PUBLISHED(x) assert(!(x) && WITNESS_reached)
#else
#define W_ALREADY_PUBLISHED(x) skip
#endif
#ifdef WITNESS_SAME_BATCH_DUP
#define W_SAME_BATCH_DUP(x) assert(!(x) && WITNESS_reached)
#else
#define W_SAME_BATCH_DUP(x) skip
#endif
#ifdef WITNESS_STALE_ACK
#define W_STALE_ACK(x) assert(!(x) && WITNESS_reached)
#else
#define W_STALE_ACK(x) skip
#endif

#define NC     2            /* consumers */
#define NM     3            /* logical inputs m0, m1, m2 */
#define NE     2            /* entities */
#define MAXV   4            /* history room per entity (a bug variant may write more than 2) */
#define MAXK   2            /* outputs per input at most */

/* --- the endpoint's handler: a deterministic function (state, input) -> (state', outputs) -- */
#define ENT(m)       ((m) == 2 -> 1 : 0)                   /* m0, m1 -> entity 0; m2 -> 1     */
#define NOUT(m)      ((m) == 0 -> 2 : ((m) == 1 -> 1 : 0)) /* m0 emits 2, m1 emits 1, m2 none */
#define STEP(s, m)   ((s) * 4 + (m) + 1)                    /* order-sensitive fold            */
/* Output k of input m depends on the state it saw ("Missed" on a fresh entity, "Hit" after
 * another input changed it): re-running on another state gives other bytes. */
#define OUT(s, m, k) (10 * (m) + (s) + 50 * (k))
/* The recorded output digest (count and bytes of the outputs): a function of the outputs. */
#define DIGEST(s, m) (NOUT(m) == 0 -> 0 : OUT(s, m, 0) + 1)

/* --- the bus: endpoint A's input queue. Copies of one input are indistinguishable, so the
 * queue is kept as counts per input id (a symmetry reduction). ------------------------------ */
byte ready[NM];             /* copies receivable now (never received, or redelivered) */
byte held[NC * NM];         /* copies leased by consumer c: its undelivered-yet-settled tags */
byte lost[NM];              /* BUG_LEASE_NEVER_EXPIRES: leases of a crashed consumer */
byte acked[NM];             /* copies acked (removed for good) */
byte crashes;               /* consumer crashes so far */
byte expiries;              /* lease expiries of a live consumer so far */

#define OTHER (1 - c)
#define TAKEABLE(m) (ready[m] > 0 || (expiries < MAXEXPIRE && held[OTHER * NM + m] > 0))
#define SOMEAVAIL (TAKEABLE(0) || TAKEABLE(1) || TAKEABLE(2))
#define ALLDONE (ready[0] + ready[1] + ready[2] + held[0] + held[1] + held[2] + held[3] + \
                 held[4] + held[5] + lost[0] + lost[1] + lost[2] == 0)

/* --- the store: one LMDB environment shared by both consumers; a write transaction is one
 * atomic step (LMDB serialises writers, also across processes) ---------------------------- */
byte head[NE];              /* head version per entity (0: none) */
byte cur[NE];               /* state at the head */
byte hin[NE * MAXV];        /* history: input id of version v, at IDX(e, v) */
byte hbefore[NE * MAXV];    /* history: state before version v (what the loader folds to) */
byte hdig[NE * MAXV];       /* history: recorded output digest */
byte applied[NM];           /* applied index: input id -> version (0: absent) */
bit  unpub[NM];             /* the publication set: committed, outputs not yet confirmed */
byte hcount[NM];            /* ghost: history entries written per input id (O1) */

/* --- what the transport accepted, and downstream endpoint B ------------------------------ */
bit  pubseen[NM * MAXK];    /* ghost: some copy of output (m, k) was published */
byte pubval[NM * MAXK];     /* ghost: the bytes of its first copy (O2) */
byte bsum;                  /* B's state: it applies each output id once (a sum of values) */
byte stopped;               /* consumers that stopped */
bit  finished;              /* the final checks ran */

/* Names of the oracles, so that a failed assertion names the one it checks (always 1). */
hidden byte O1_one_entry_per_input = 1, O2_copies_identical = 1, O3_output_of_committed_state = 1,
           O4_no_ghost = 1, O5_no_loss = 1, O6_acked_has_entry = 1, O7_serial_fold = 1,
           O8_drained = 1, NONDETERMINISM_digest_mismatch = 1, WITNESS_reached = 1;

/* scratch for d_steps only (deterministic and indivisible, so shared and not in the state) */
hidden byte ti, tk, tm, te, tv, ts;

#define IDX(e, v) ((e) * MAXV + (v) - 1)

/* where a crash falls (for the counterexample narratives) */
mtype = { before_commit, after_commit, between_outputs, after_publish, after_ack };

#define NONE    0
#define NEW     1
#define DUP     2
#define ALREADY 3

/* The transport accepts output k of input m with bytes val; the observer checks it at once. */
inline publish(m, k, val) {
  printf("publish output %d of m%d = %d\n", k, m, val);
  /* O4 no ghost: the input's version is committed before any output of it is observable */
  assert(applied[m] != 0 && O4_no_ghost);
  if
  :: pubseen[m * MAXK + k] ->
     /* O2: every copy of (m, k) is identical */
     assert(pubval[m * MAXK + k] == val && O2_copies_identical)
  :: else ->
     pubseen[m * MAXK + k] = 1;
     pubval[m * MAXK + k] = val;
     bsum = bsum + val                        /* B applies the first copy of each output id */
  fi;
  /* O3: the output equals handler(state before its version, input) per the committed history */
  assert(val == OUT(hbefore[IDX(ENT(m), applied[m])], m, k) && O3_output_of_committed_state)
}

proctype Consumer(byte c) {
  byte n;                   /* deliveries in the batch */
  byte bm[2];               /* their input ids */
  byte out[2];              /* outcome per item */
  byte bsv[2];              /* the state the handler run saw (its outputs derive from it) */
  byte conf;                /* Pipeline::confirmed_: emitters whose outputs were confirmed */
#ifdef PARTIAL_PUBLISH
  byte i, k;
#endif

/* A crash loses everything in memory (the batch, confirmed_); the leases the consumer held
 * expire and its deliveries become receivable again; store and bus keep what they committed.
 * The consumer restarts (same process id, a fresh Pipeline). */
#ifdef BUG_LEASE_NEVER_EXPIRES
#define RETURN_LEASE(m) lost[m] = lost[m] + held[c * NM + m]
#else
#define RETURN_LEASE(m) ready[m] = ready[m] + held[c * NM + m]
#endif
#define CRASHNOW(where) \
  crashes < MAXCRASH -> \
  d_step { \
    printf("c%d CRASHES %e: its leases expire, its memory (batch, confirmed_) is lost\n", \
           c, where); \
    crashes++; \
    RETURN_LEASE(0); held[c * NM + 0] = 0; \
    RETURN_LEASE(1); held[c * NM + 1] = 0; \
    RETURN_LEASE(2); held[c * NM + 2] = 0; \
    n = 0; conf = 0; bm[0] = 0; bm[1] = 0; out[0] = 0; out[1] = 0; bsv[0] = 0; bsv[1] = 0 \
  }; \
  goto top

/* Receive one delivery of input x: a ready copy, or one whose lease (held by the other
 * consumer, alive but slow) expired and is taken over. */
#define PICK \
  if \
  :: ready[0] > 0 -> ready[0]--; held[c * NM + 0]++; bm[n] = 0; n++; printf("c%d receives m0\n", c) \
  :: ready[1] > 0 -> ready[1]--; held[c * NM + 1]++; bm[n] = 1; n++; printf("c%d receives m1\n", c) \
  :: ready[2] > 0 -> ready[2]--; held[c * NM + 2]++; bm[n] = 2; n++; printf("c%d receives m2\n", c) \
  :: expiries < MAXEXPIRE && held[OTHER * NM + 0] > 0 -> \
     printf("c%d: lease of c%d on m0 expires (slow), taken over\n", c, OTHER); \
     expiries++; held[OTHER * NM + 0]--; held[c * NM + 0]++; bm[n] = 0; n++; printf("c%d receives m0\n", c) \
  :: expiries < MAXEXPIRE && held[OTHER * NM + 1] > 0 -> \
     printf("c%d: lease of c%d on m1 expires (slow), taken over\n", c, OTHER); \
     expiries++; held[OTHER * NM + 1]--; held[c * NM + 1]++; bm[n] = 1; n++; printf("c%d receives m1\n", c) \
  :: expiries < MAXEXPIRE && held[OTHER * NM + 2] > 0 -> \
     printf("c%d: lease of c%d on m2 expires (slow), taken over\n", c, OTHER); \
     expiries++; held[OTHER * NM + 2]--; held[c * NM + 2]++; bm[n] = 2; n++; printf("c%d receives m2\n", c) \
  fi

/* Ack the batch (5.): a delivery taken over by the other consumer is stale, its ack a no-op. */
#define ACK \
  ti = 0; \
  do \
  :: ti < n -> \
     tm = bm[ti]; \
     if \
     :: held[c * NM + tm] > 0 -> \
        assert(applied[tm] != 0 && O6_acked_has_entry);   /* O6 */ \
        held[c * NM + tm]--; acked[tm]++; printf("c%d acks m%d\n", c, tm) \
     :: else -> printf("c%d acks m%d: stale (taken over), a no-op\n", c, tm); \
        W_STALE_ACK(true) \
     fi; \
     ti++ \
  :: else -> break \
  od

/* confirmed_ += the emitters of the batch, once the transport confirmed their outputs */
#define CONFIRM \
  ti = 0; \
  do \
  :: ti < n -> \
     if \
     :: (out[ti] == NEW || out[ti] == DUP) && NOUT(bm[ti]) > 0 -> conf = conf | (1 << bm[ti]) \
     :: else -> skip \
     fi; \
     ti++ \
  :: else -> break \
  od

/* markPublished for every confirmed_ id (in a write transaction) */
#define MARK_PUBLISHED \
  ti = 0; \
  do \
  :: ti < NM -> \
     if \
     :: conf & (1 << ti) -> \
        unpub[ti] = 0; printf("c%d: m%d leaves the publication set (confirmed)\n", c, ti) \
     :: else -> skip \
     fi; \
     ti++ \
  :: else -> break \
  od; \
  conf = 0

#define RESET_BATCH n = 0; bm[0] = 0; bm[1] = 0; out[0] = 0; out[1] = 0; bsv[0] = 0; bsv[1] = 0

/* 4. publish every output of the batch, new and re-emitted (the embedded bus: the whole batch
 * in one durable transaction, or nothing of it) */
#define PUBLISH_ALL \
  ti = 0; \
  do \
  :: ti < n -> \
     if \
     :: out[ti] == NEW || out[ti] == DUP -> \
        tk = 0; \
        do \
        :: tk < NOUT(bm[ti]) -> publish(bm[ti], tk, OUT(bsv[ti], bm[ti], tk)); tk++ \
        :: else -> break \
        od \
     :: else -> skip \
     fi; \
     ti++ \
  :: else -> break \
  od

top:
  do
  :: atomic {               /* receive: one or two deliveries under lease, in any order */
       SOMEAVAIL -> PICK;
       if
       :: skip
       :: SOMEAVAIL -> PICK
       fi
     };
#ifdef BUG_ACK_BEFORE_COMMIT
     d_step { ACK };
#endif
#ifdef BUG_PUBLISH_BEFORE_COMMIT
     /* the handler runs, its outputs go out, and only then does the batch commit */
     if
     :: d_step {
          ti = 0;
          do
          :: ti < n ->
             tm = bm[ti]; te = ENT(tm);
             if
             :: applied[tm] != 0 -> out[ti] = DUP; bsv[ti] = hbefore[IDX(te, applied[tm])]
             :: else -> out[ti] = NEW; bsv[ti] = cur[te]
             fi;
             ti++
          :: else -> break
          od;
          PUBLISH_ALL
        }
     :: CRASHNOW(before_commit)
     fi;
#endif

     /* 2.-3. the batch's write transaction, committed durably: one atomic step. A crash
      * before it (in the handler, before or during the commit) leaves no trace in the store. */
     if
     :: d_step {
          MARK_PUBLISHED;   /* the previous batches' confirmations; confirmed_.clear() */
          ti = 0;
          do
          :: ti < n ->
             tm = bm[ti]; te = ENT(tm);
             if
#ifndef BUG_NO_DEDUP
             :: applied[tm] != 0 && !unpub[tm] ->
                W_ALREADY_PUBLISHED(NOUT(tm) > 0);
                out[ti] = ALREADY;             /* outputs already with the transport: ack */
                printf("c%d commit: m%d is a duplicate, nothing owed (outputs confirmed or none): ack, no re-run\n", c, tm)
             :: applied[tm] != 0 && unpub[tm] ->
                tv = applied[tm];
#ifdef BUG_REPLAY_ON_CURRENT_STATE
                ts = cur[te];                  /* BUG: the latest state */
#else
                ts = hbefore[IDX(te, tv)];     /* point in time: the state version tv saw */
#endif
#ifndef NO_DIGEST_CHECK
                /* the re-run's digest equals the recorded one (a mismatch is a
                 * non-determinism error; this handler is deterministic: never) */
                assert(DIGEST(ts, tm) == hdig[IDX(te, tv)] && NONDETERMINISM_digest_mismatch);
#endif
                W_REPLAY_AFTER_MOVE(NOUT(tm) > 0 && hbefore[IDX(te, tv)] != cur[te] &&
                                    cur[te] != STEP(hbefore[IDX(te, tv)], tm));
                W_SAME_BATCH_DUP(ti == 1 && bm[0] == tm && out[0] == NEW);
                bsv[ti] = ts;
                out[ti] = DUP;
                printf("c%d commit: m%d is a duplicate of version %d: re-run on state %d\n",
                       c, tm, tv, ts)
#endif
             :: else ->                        /* new: run on the head, write version head+1 */
                ts = cur[te];
                tv = head[te] + 1;
                assert(tv <= MAXV);
                hin[IDX(te, tv)] = tm;
                hbefore[IDX(te, tv)] = ts;
                hdig[IDX(te, tv)] = DIGEST(ts, tm);
                head[te] = tv;
                cur[te] = STEP(ts, tm);
                applied[tm] = tv;
                hcount[tm]++;
                assert(hcount[tm] <= 1 && O1_one_entry_per_input);  /* O1 */
#ifndef BUG_NO_PUBLICATION_SET
                if :: NOUT(tm) > 0 -> unpub[tm] = 1 :: else -> skip fi;
#endif
                bsv[ti] = ts;
                out[ti] = NEW;
                printf("c%d commit: m%d new, entity %d version %d, state %d -> %d\n",
                       c, tm, te, tv, ts, cur[te])
             fi;
             ti++
          :: else -> break
          od
        }
     :: CRASHNOW(before_commit)
     fi;

     /* 4. publish; a crash here is "commit durable, before publish" */
#ifdef PARTIAL_PUBLISH
     /* each output accepted on its own (NATS: one PubAck each): a crash may come after k of n */
     i = 0; k = 0;
     do
     :: i < n && (out[i] == NEW || out[i] == DUP) && k < NOUT(bm[i]) ->
        if
        :: d_step { publish(bm[i], k, OUT(bsv[i], bm[i], k)); k++ }
        :: CRASHNOW(between_outputs)
        fi
     :: i < n && !((out[i] == NEW || out[i] == DUP) && k < NOUT(bm[i])) -> i++; k = 0
     :: else -> i = 0; k = 0; break
     od;
#else
     if
     :: d_step { PUBLISH_ALL }
     :: CRASHNOW(after_commit)
     fi;
#endif

     /* 5. ack; a crash here is "published, before ack" */
     if
     :: d_step {
          CONFIRM;
#ifndef BUG_ACK_BEFORE_COMMIT
          ACK;
#endif
          RESET_BATCH
        }
     :: CRASHNOW(after_publish)
     fi

  :: conf != 0 && CRASHNOW(after_ack)  /* idle: only confirmed_ is lost (a re-emission) */

  :: d_step {               /* flushPublished(): when receive returned nothing */
       !SOMEAVAIL && conf != 0 -> MARK_PUBLISHED
     }

  :: ALLDONE -> break       /* every delivery is settled: the endpoint stops */
  od;
  stopped++
}

init {
  byte m, e, v, s, k;
  byte expect;
  atomic {
    ready[0] = 1; ready[1] = 1; ready[2] = 1;
    /* The sender's and broker's duplicates: MAXDUP extra copies of any inputs. They are queued
     * from the start: receive takes any available delivery in any order, so a copy queued
     * early covers a copy sent late (it may be received at any later point). */
    if
    :: MAXDUP >= 1 ->
       if
       :: m = 0
       :: m = 1
       :: m = 2
       fi;
       ready[m]++;
       if
       :: MAXDUP >= 2 ->            /* copies are symmetric: the second's input id >= first's */
          if
          :: skip
          :: m < 1 -> m = 1
          :: m < 2 -> m = 2
          fi;
          ready[m]++
       :: else -> skip
       fi
    :: else -> skip
    fi;
    m = 0;
    run Consumer(0);
    run Consumer(1)
  };
  (stopped == NC);          /* both consumers stopped: every delivery settled (O8) */
  d_step {
    assert(ALLDONE && O8_drained);
    m = 0;
    do
    :: m < NM ->
       assert(applied[m] != 0 && hcount[m] == 1 && acked[m] > 0 && O6_acked_has_entry);
       k = 0;
       do
       :: k < NOUT(m) -> assert(pubseen[m * MAXK + k] && O5_no_loss); k++
       :: else -> break
       od;
       m++
    :: else -> break
    od;
    /* O7: each entity's state is the serial fold of its unique inputs in commit order; O3
     * again, recomputed from that fold; B's state is the fold of the committed outputs. */
    expect = 0;
    e = 0;
    do
    :: e < NE ->
       s = 0; v = 1;
       do
       :: v <= head[e] ->
          m = hin[IDX(e, v)];
          assert(ENT(m) == e && applied[m] == v && hbefore[IDX(e, v)] == s && O7_serial_fold);
          k = 0;
          do
          :: k < NOUT(m) ->
             assert(pubval[m * MAXK + k] == OUT(s, m, k) && O3_output_of_committed_state);
             expect = expect + OUT(s, m, k); k++
          :: else -> break
          od;
          s = STEP(s, m); v++
       :: else -> break
       od;
       assert(s == cur[e] && O7_serial_fold);
       e++
    :: else -> break
    od;
    assert(head[0] == 2 && head[1] == 1 && O7_serial_fold);
    assert(bsum == expect && O7_serial_fold);   /* downstream B */
    finished = 1
  }
}

#ifdef LIVENESS
/* O8 as a claim: every run, however the faults fall, reaches the final checks */
ltl o8 { <> finished }
#endif
