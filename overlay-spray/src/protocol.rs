//! The Spray state machine (sans-IO): events and ticks in, actions out.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::{ArcCloseReason, Direction, Event, PeerId};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::message::Message;

/// Settings of a [`Spray`] peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SprayConfig {
    /// Δt, the period of the shuffle. Default 10 s.
    pub period: Duration,
    /// Broadcast ids remembered to drop duplicates. Default 4096.
    pub broadcast_memory: usize,
    /// Largest broadcast payload accepted and forwarded, in bytes.
    /// Default 64 KiB.
    pub max_broadcast: usize,
    /// What this peer does when a shuffle hands it an arc to a peer it
    /// already has in its view. Default [`Duplicates::Keep`].
    pub duplicates: Duplicates,
    /// Whether an arc keeps its age when a shuffle moves it to another
    /// peer. Default [`Ages::Carry`] (the paper's algorithm; it gives the
    /// narrower in-degree the paper reports, see `docs/spray/in-degree.md`).
    pub ages: Ages,
}

/// The age of an arc that a shuffle hands to another peer (see
/// `docs/spray/in-degree.md`).
///
/// The age of an entry counts the shuffles its holder started since the
/// entry arrived; each shuffle goes to the holder's oldest entry, whose arc
/// is then reversed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ages {
    /// A moved arc starts at age 0 at its new holder (spray-wrtc, the
    /// authors' PeerSim `descent.spray` code). In-degrees spread about
    /// 1.5 times wider than with `Carry`.
    Reset,
    /// A moved arc keeps its age (the paper's algorithm, which sends
    /// ⟨peer, age⟩ pairs, and the older PeerSim code, as in Cyclon); the
    /// arc that replaces the initiator's oldest entry starts at 0. Each side
    /// tells its partner the ages with an `AGES` message before its bridges;
    /// a bridged arc that opens takes the age announced for its target (a
    /// received age is clamped to [`MAX_CARRIED_AGE`], and kept at most
    /// [`AGE_HOLD`] waiting for its arc).
    ///
    /// A peer in `Reset` mode ignores a partner's `AGES`; mixed settings
    /// still shuffle, the `Carry` peers' arcs then start at 0.
    #[default]
    Carry,
}

/// Largest age a peer accepts from a partner's `AGES` (larger ones are
/// clamped to it). An honest age stays near the view size (an entry is
/// reversed once it is its holder's oldest); the clamp bounds how far a
/// remote can push one of our entries ahead of the others.
pub const MAX_CARRIED_AGE: u32 = 255;

/// How long an announced age waits for its arc to open (bridges end
/// within the engine's handshake timeouts, 10 s by default).
pub const AGE_HOLD: Duration = Duration::from_secs(20);

/// Announced ages one peer keeps waiting for their arcs, all partners
/// together (more are dropped, and those arcs start at 0).
const MAX_WAITING_AGES: usize = 4096;

/// What a peer does when a shuffle hands it an arc to a peer y that is
/// already in its view (see `docs/spray/in-degree.md`).
///
/// Every peer of a network should use the same setting. A peer in `Swap`
/// mode starts its shuffles with `EXCHANGE_REPORT` and both sides then
/// report the arcs they handed over (`HANDED`) once their bridges ended; a
/// partner in `Keep` mode reports but keeps its own duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Duplicates {
    /// Keep both arcs: y is in the view twice. This is the paper's
    /// algorithm, P ← (P \ sample) ⊎ sample' (a multiset union), and what
    /// spray-wrtc does.
    #[default]
    Keep,
    /// The rule of the authors' PeerSim code (`descent.spray`,
    /// `SprayPartialView.mergeSample`, in some of its versions): take the
    /// received entries in order; when one, y, is already in the view (the
    /// view without the arcs handed out in this exchange, plus the received
    /// entries taken so far), keep instead the first arc x this peer handed
    /// out in the exchange whose target is no longer in that view (the
    /// initiator's list starts with its partner), and drop the received arc
    /// to y. Both peers of the exchange then point to x and the arc to y is
    /// gone: the network keeps its arc count, an arc moves from y to x.
    ///
    /// On our API each handed-out arc stays pinned after its bridge opened
    /// until the partner's report has come: then the kept ones are unpinned
    /// and stay, the others are removed, and one arc to each dropped y is
    /// removed. Without a report within 30 s (partner crashed, or left)
    /// the exchange ends as with `Keep`.
    Swap,
}

impl Default for SprayConfig {
    fn default() -> Self {
        SprayConfig {
            period: Duration::from_secs(10),
            broadcast_memory: 4096,
            max_broadcast: 64 * 1024,
            duplicates: Duplicates::Keep,
            ages: Ages::Carry,
        }
    }
}

impl SprayConfig {
    /// Use this shuffle period.
    pub fn with_period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Use this rule for duplicates received in a shuffle.
    pub fn with_duplicates(mut self, duplicates: Duplicates) -> Self {
        self.duplicates = duplicates;
        self
    }

    /// Use this rule for the age of moved arcs.
    pub fn with_ages(mut self, ages: Ages) -> Self {
        self.ages = ages;
        self
    }
}

/// Names one `connect` Spray asked for; its outcome comes back through
/// [`Spray::handle_connect_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub u64);

/// What Spray asks its driver to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `connect(from, to)` on this peer (`None` is this peer), then report
    /// the outcome with [`Spray::handle_connect_result`] and `token`.
    Connect {
        /// Names this connect.
        token: Token,
        /// Who gets the arc (`None`: this peer).
        from: Option<PeerId>,
        /// Where it points (`None`: this peer).
        to: Option<PeerId>,
    },
    /// Remove one (unpinned) arc to `peer`.
    Disconnect {
        /// The peer.
        peer: PeerId,
    },
    /// Pin one arc to `peer` (it is being handed out).
    Pin {
        /// The peer.
        peer: PeerId,
    },
    /// Unpin one arc to `peer`.
    Unpin {
        /// The peer.
        peer: PeerId,
    },
    /// Send `payload` to `peer` on this protocol.
    Send {
        /// The neighbour.
        peer: PeerId,
        /// A Spray message.
        payload: Bytes,
    },
    /// A broadcast reached this peer (first copy): hand it to the application.
    Deliver {
        /// The neighbour it came from.
        from: PeerId,
        /// The broadcast's id.
        id: u64,
        /// What its origin sent.
        payload: Bytes,
    },
    /// The graceful leave handed every inview arc over: shut the node down.
    Left,
}

/// Counters of one Spray peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SprayStats {
    /// Shuffles this peer started.
    pub exchanges_started: u64,
    /// Shuffles this peer answered.
    pub exchanges_answered: u64,
    /// Newcomers this peer bridged in as their contact.
    pub joins_handled: u64,
    /// Arcs handed to another peer (bridge opened, own copy removed).
    pub arcs_moved: u64,
    /// Arcs that could not be handed out (bridge failed; the arc stays).
    pub moves_failed: u64,
    /// Arcs lost to a crashed or timed-out neighbour.
    pub arcs_lost: u64,
    /// Lost arcs replaced by a copy of a random neighbour.
    pub arcs_replaced: u64,
    /// Other connects (join bridges, replacements, leave handovers) that
    /// failed.
    pub connects_failed: u64,
    /// Messages that were not Spray messages, or not expected (dropped).
    pub dropped_messages: u64,
    /// Broadcasts delivered to the application.
    pub broadcasts_delivered: u64,
    /// [`Duplicates::Swap`]: received duplicates dropped, each for an arc
    /// this peer handed out and kept instead.
    pub duplicates_swapped: u64,
    /// [`Duplicates::Swap`]: exchanges whose partner's report did not come
    /// in time (they ended as with [`Duplicates::Keep`]).
    pub reports_missed: u64,
    /// [`Ages::Carry`]: arcs that opened with the age their previous holder
    /// announced.
    pub ages_carried: u64,
    /// [`Ages::Carry`]: announced ages dropped (arc never opened within
    /// [`AGE_HOLD`], or over the bound of waiting ages).
    pub ages_unused: u64,
    /// Out arcs that opened (every cause: joins, moves, replacements).
    pub arcs_opened: u64,
    /// Out arcs this peer removed (handed out, or dropped by a swap).
    pub arcs_removed: u64,
    /// Out arcs that closed without this peer asking and without a failure
    /// of the neighbour (closed by the remote, or by the engine).
    /// With `arcs_opened`, `arcs_removed` and `arcs_lost` this accounts
    /// for every arc of the view.
    pub arcs_closed_other: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// In the view, free to be sampled.
    Free,
    /// Being handed out by the connect `Token`.
    Pinned(Token),
    /// Handed out: its disconnect is on the way.
    Leaving,
    /// Handed out by the connect `Token` (its bridge opened), still pinned:
    /// the exchange's merge decides whether it stays ([`Duplicates::Swap`]).
    Handed(Token),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    age: u32,
    state: State,
}

#[derive(Debug, Clone, Copy)]
enum Purpose {
    /// An arc to `peer` is handed out; drop it when the bridge opened (or,
    /// in a reported exchange, when the merge decides).
    Move {
        peer: PeerId,
        exchange: Option<ExchangeKey>,
    },
    /// A join bridge `q -> newcomer`: when it ends, start the next queued one.
    Join,
    /// Nothing to do when it ends (replacements, leave).
    Plain,
}

/// Join bridges a contact keeps in flight at once. Every join bridge of a
/// newcomer reaches it through the contact, and an engine accepts a
/// bounded number of pending handshakes relayed by one neighbour
/// (`Config::max_pending_per_neighbour`, 32 by default): a contact with a
/// larger view that bridged all at once would see the excess refused, and
/// the network would lose those arcs for good.
const JOIN_BRIDGES_IN_FLIGHT: usize = 16;

/// A reported exchange ([`Duplicates::Swap`]): (partner, id).
type ExchangeKey = (PeerId, u64);

/// How long a reported exchange waits for its partner's HANDED before it
/// ends as with [`Duplicates::Keep`] (its handed-out arcs stay pinned
/// meanwhile). Bridges end within the engine's handshake timeouts (10 s).
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Reported exchanges one peer keeps at once; an `EXCHANGE_REPORT` beyond
/// is answered as a plain `EXCHANGE` (its initiator then times out).
const MAX_REPORTED_EXCHANGES: usize = 64;

/// One exchange whose two sides report what they handed over.
#[derive(Debug)]
struct Reported {
    /// This peer applies [`Duplicates::Swap`] to what it receives (else it
    /// only reports, for its partner).
    swap: bool,
    /// This peer's hand-outs in the merge's order (the initiator's partner
    /// first): (connect, target, outcome once ended).
    sent: Vec<(Token, PeerId, Option<bool>)>,
    /// What the partner handed us, once its HANDED came.
    received: Option<Vec<PeerId>>,
    /// Our HANDED went out.
    reported: bool,
    deadline: Instant,
}

/// One Spray peer, sans-IO. See the [crate docs](crate).
#[derive(Debug)]
pub struct Spray {
    local: PeerId,
    config: SprayConfig,
    rng: ChaCha8Rng,
    /// The partial view (outview), with multiplicity.
    view: BTreeMap<PeerId, Vec<Entry>>,
    view_len: usize,
    /// Inview arc counts (for broadcast and leave).
    inview: BTreeMap<PeerId, u32>,
    /// Peers that sent JOIN during their current inview (one JOIN each).
    joined: BTreeSet<PeerId>,
    /// Arcs lost to one neighbour's failure so far (until its last one).
    lost: BTreeMap<PeerId, u32>,
    pending: BTreeMap<Token, Purpose>,
    /// Join bridges `(q, newcomer)` waiting for a slot
    /// (`JOIN_BRIDGES_IN_FLIGHT`).
    join_queue: VecDeque<(PeerId, PeerId)>,
    joins_in_flight: usize,
    next_token: u64,
    next_shuffle: Option<Instant>,
    /// Exchanges whose sides report what they handed over.
    reported: BTreeMap<ExchangeKey, Reported>,
    /// [`Ages::Carry`]: partners of exchanges under way whose `AGES` is
    /// still to come (until the deadline).
    expect_ages: BTreeMap<PeerId, Instant>,
    /// [`Ages::Carry`]: announced ages of arcs still to open, by target,
    /// oldest announcement first: (age, until).
    waiting_ages: BTreeMap<PeerId, VecDeque<(u32, Instant)>>,
    waiting_ages_len: usize,
    leaving: bool,
    left: bool,
    seen: HashSet<u64>,
    seen_order: VecDeque<u64>,
    actions: VecDeque<Action>,
    stats: SprayStats,
}

impl Spray {
    /// A Spray peer for `local`; `seed` drives every random choice.
    pub fn new(local: PeerId, config: SprayConfig, seed: u64) -> Self {
        Spray {
            local,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            view: BTreeMap::new(),
            view_len: 0,
            inview: BTreeMap::new(),
            joined: BTreeSet::new(),
            lost: BTreeMap::new(),
            pending: BTreeMap::new(),
            join_queue: VecDeque::new(),
            joins_in_flight: 0,
            next_token: 0,
            next_shuffle: None,
            reported: BTreeMap::new(),
            expect_ages: BTreeMap::new(),
            waiting_ages: BTreeMap::new(),
            waiting_ages_len: 0,
            leaving: false,
            left: false,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            actions: VecDeque::new(),
            stats: SprayStats::default(),
        }
    }

    // ----- queries -------------------------------------------------------

    /// This peer.
    pub fn local_id(&self) -> PeerId {
        self.local
    }

    /// The partial view: neighbour -> arcs to it.
    pub fn view(&self) -> BTreeMap<PeerId, u32> {
        self.view
            .iter()
            .map(|(p, e)| (*p, e.len() as u32))
            .collect()
    }

    /// The ages of the arcs to `peer` in the partial view (empty if none).
    pub fn ages(&self, peer: &PeerId) -> Vec<u32> {
        self.view
            .get(peer)
            .map(|es| es.iter().map(|e| e.age).collect())
            .unwrap_or_default()
    }

    /// |P|: arcs in the partial view, with multiplicity.
    pub fn view_size(&self) -> usize {
        self.view_len
    }

    /// Incoming arcs: neighbour -> arcs from it.
    pub fn inview(&self) -> &BTreeMap<PeerId, u32> {
        &self.inview
    }

    /// Counters.
    pub fn stats(&self) -> SprayStats {
        self.stats
    }

    /// Whether [`Spray::leave`] was called.
    pub fn is_leaving(&self) -> bool {
        self.leaving
    }

    /// The next action for the driver.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Spray::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let report = self.reported.values().map(|r| r.deadline).min();
        match (self.next_shuffle, report) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- inputs --------------------------------------------------------

    /// Start shuffling: the first shuffle comes at a random point of the
    /// first period (peers' clocks are not in step).
    pub fn start(&mut self, now: Instant) {
        if self.next_shuffle.is_none() && !self.leaving {
            let p = self.config.period.as_nanos() as u64;
            let first = self.rng.gen_range(0..p.max(1));
            self.next_shuffle = Some(now + Duration::from_nanos(first));
        }
    }

    /// The out-of-band arc to `contact` opened: ask it to bridge this
    /// newcomer to its outview, and start shuffling.
    pub fn join(&mut self, now: Instant, contact: PeerId) {
        self.actions.push_back(Action::Send {
            peer: contact,
            payload: Message::Join.encode(),
        });
        self.start(now);
    }

    /// Flood `payload` over the overlay; its id.
    pub fn broadcast(&mut self, payload: Bytes) -> u64 {
        let id = self.rng.gen();
        self.remember(id);
        let msg = Message::Broadcast { id, payload }.encode();
        self.flood(None, &msg);
        id
    }

    /// Leave gracefully: hand every inview arc over to the outview (each
    /// `i -> self` becomes `i -> o`, bridged here), then [`Action::Left`].
    pub fn leave(&mut self, _now: Instant) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        self.next_shuffle = None;
        self.join_queue.clear();
        // No merge any more: what was handed out goes.
        let keys: Vec<ExchangeKey> = self.reported.keys().copied().collect();
        for key in keys {
            self.end_unmerged(key);
        }
        let mut outs: Vec<PeerId> = self
            .view
            .iter()
            .flat_map(|(p, e)| std::iter::repeat_n(*p, e.len()))
            .collect();
        outs.shuffle(&mut self.rng);
        let ins: Vec<(PeerId, u32)> = self.inview.iter().map(|(p, n)| (*p, *n)).collect();
        let mut k = 0;
        for (i, n) in ins {
            for _ in 0..n {
                // The next outview entry that is not `i` itself.
                let Some(o) = (0..outs.len())
                    .map(|j| outs[(k + j) % outs.len()])
                    .find(|o| *o != i)
                else {
                    break;
                };
                k += 1;
                self.connect(Some(i), Some(o), Purpose::Plain);
            }
        }
        self.maybe_left();
    }

    /// Feed one event of this protocol.
    pub fn handle_event(&mut self, now: Instant, event: &Event) {
        match event {
            Event::ArcOpened {
                peer,
                direction: Direction::Out,
                count,
            } => {
                let have = self.view.get(peer).map_or(0, Vec::len);
                for _ in have..*count as usize {
                    self.stats.arcs_opened += 1;
                    let age = self.carried_age(now, *peer);
                    self.view.entry(*peer).or_default().push(Entry {
                        age,
                        state: State::Free,
                    });
                    self.view_len += 1;
                }
            }
            Event::ArcOpened {
                peer,
                direction: Direction::In,
                count,
            } => {
                self.inview.insert(*peer, *count);
            }
            Event::ArcClosed {
                peer,
                direction: Direction::Out,
                reason,
                count,
            } => self.on_out_closed(*peer, reason, *count),
            Event::ArcClosed {
                peer,
                direction: Direction::In,
                count,
                ..
            } => {
                if *count == 0 {
                    self.inview.remove(peer);
                    self.joined.remove(peer);
                } else {
                    self.inview.insert(*peer, *count);
                }
            }
            Event::Message { peer, payload } => self.on_message(now, *peer, payload),
            // A connect we asked for failed: its completion tells us too.
            _ => {}
        }
    }

    /// The connect named `token` ended.
    pub fn handle_connect_result(&mut self, _now: Instant, token: Token, ok: bool) {
        let Some(purpose) = self.pending.remove(&token) else {
            return;
        };
        if !ok && matches!(purpose, Purpose::Plain | Purpose::Join) {
            self.stats.connects_failed += 1;
        }
        if matches!(purpose, Purpose::Join) {
            self.joins_in_flight = self.joins_in_flight.saturating_sub(1);
            self.next_join_bridges();
        }
        if let Purpose::Move { peer, exchange } = purpose {
            // In a reported exchange where this peer swaps, a handed-out
            // arc stays (pinned) until the merge.
            let hold = exchange
                .and_then(|k| self.reported.get(&k))
                .is_some_and(|r| r.swap);
            if let Some(entry) = self
                .view
                .get_mut(&peer)
                .and_then(|es| es.iter_mut().find(|e| e.state == State::Pinned(token)))
            {
                if ok && hold {
                    entry.state = State::Handed(token);
                    self.stats.arcs_moved += 1;
                } else {
                    self.actions.push_back(Action::Unpin { peer });
                    if ok {
                        entry.state = State::Leaving;
                        self.actions.push_back(Action::Disconnect { peer });
                        self.stats.arcs_moved += 1;
                    } else {
                        entry.state = State::Free;
                        self.stats.moves_failed += 1;
                    }
                }
            }
            if let Some(key) = exchange {
                if let Some(r) = self.reported.get_mut(&key) {
                    if let Some(s) = r.sent.iter_mut().find(|s| s.0 == token) {
                        s.2 = Some(ok);
                    }
                }
                self.progress(key);
            }
        }
        self.maybe_left();
    }

    /// A deadline passed: exchange with the oldest neighbour when the
    /// shuffle is due; end reported exchanges whose partner did not report.
    pub fn handle_timeout(&mut self, now: Instant) {
        let late: Vec<ExchangeKey> = self
            .reported
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in late {
            self.stats.reports_missed += 1;
            self.end_unmerged(key);
        }
        self.expire_ages(now);
        let Some(at) = self.next_shuffle else { return };
        if now < at {
            return;
        }
        self.next_shuffle = Some(now + self.config.period);
        self.shuffle(now, None);
    }

    /// Start a shuffle now with `partner` (one of its arcs is the sample's
    /// "oldest" entry), instead of with the oldest neighbour. For tests and
    /// tools; a shuffle is normally started by [`Spray::handle_timeout`].
    /// Returns false (and does nothing) if no free arc to `partner` is in
    /// the view, or this peer is leaving.
    pub fn exchange_with(&mut self, now: Instant, partner: PeerId) -> bool {
        let free = self
            .view
            .get(&partner)
            .is_some_and(|es| es.iter().any(|e| e.state == State::Free));
        if self.leaving || !free {
            return false;
        }
        self.shuffle(now, Some(partner));
        true
    }

    // ----- the protocol --------------------------------------------------

    fn shuffle(&mut self, now: Instant, partner: Option<PeerId>) {
        for e in self.view.values_mut().flatten() {
            e.age = e.age.saturating_add(1);
        }
        // The oldest free entry (ties broken at random).
        let free: Vec<(PeerId, usize, u32)> = self
            .view
            .iter()
            .flat_map(|(p, es)| {
                es.iter()
                    .enumerate()
                    .filter(|(_, e)| e.state == State::Free)
                    .map(move |(i, e)| (*p, i, e.age))
            })
            .collect();
        let Some(oldest_age) = free
            .iter()
            .filter(|f| partner.is_none_or(|p| p == f.0))
            .map(|f| f.2)
            .max()
        else {
            return;
        };
        let oldest: Vec<usize> = (0..free.len())
            .filter(|&i| free[i].2 == oldest_age && partner.is_none_or(|p| p == free[i].0))
            .collect();
        let chosen = oldest[self.rng.gen_range(0..oldest.len())];
        let q = free[chosen].0;
        // The sample: the oldest entry plus ⌈|P|/2⌉ − 1 others, drawn from
        // the free entries.
        let want = self.view_len.div_ceil(2).saturating_sub(1);
        let mut others: Vec<(PeerId, usize)> = free
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != chosen)
            .map(|(_, f)| (f.0, f.1))
            .collect();
        others.shuffle(&mut self.rng);
        others.truncate(want);
        others.push((free[chosen].0, free[chosen].1));
        self.stats.exchanges_started += 1;
        if self.config.duplicates == Duplicates::Keep {
            // Tell q first: it samples its own view before our arcs arrive.
            self.actions.push_back(Action::Send {
                peer: q,
                payload: Message::Exchange.encode(),
            });
            self.announce_ages(now, q, &others, true);
            self.hand_out(q, others, None);
            return;
        }
        let id = self.rng.gen();
        let key = (q, id);
        self.actions.push_back(Action::Send {
            peer: q,
            payload: Message::ExchangeReport { id }.encode(),
        });
        self.reported.insert(
            key,
            Reported {
                swap: true,
                sent: Vec::new(),
                received: None,
                reported: false,
                deadline: now + REPORT_TIMEOUT,
            },
        );
        self.announce_ages(now, q, &others, true);
        let mut sent = self.hand_out(q, others, Some(key));
        // The merge looks at the partner's entry first (PeerSim's order).
        sent.rotate_right(1);
        if let Some(r) = self.reported.get_mut(&key) {
            r.sent = sent.into_iter().map(|(t, x)| (t, x, None)).collect();
        }
        self.progress(key);
    }

    /// Hand the sampled entries to `partner`: each `x` becomes an arc
    /// `partner -> x` bridged here (an `x` that is `partner` itself becomes
    /// `partner -> self`); each entry is pinned until its bridge ends.
    /// Returns the connects, in sample order.
    fn hand_out(
        &mut self,
        partner: PeerId,
        sample: Vec<(PeerId, usize)>,
        exchange: Option<ExchangeKey>,
    ) -> Vec<(Token, PeerId)> {
        let mut sent = Vec::with_capacity(sample.len());
        for (x, i) in sample {
            let token = self.token();
            if let Some(e) = self.view.get_mut(&x).and_then(|es| es.get_mut(i)) {
                e.state = State::Pinned(token);
            }
            self.pending
                .insert(token, Purpose::Move { peer: x, exchange });
            self.actions.push_back(Action::Pin { peer: x });
            let to = if x == partner { None } else { Some(x) };
            self.actions.push_back(Action::Connect {
                token,
                from: Some(partner),
                to,
            });
            sent.push((token, x));
        }
        sent
    }

    /// `from` started a shuffle with us; `report`: it wants a HANDED back
    /// (and sends us one).
    fn on_exchange(&mut self, now: Instant, from: PeerId, report: Option<u64>) {
        if self.leaving {
            self.stats.dropped_messages += 1;
            return;
        }
        let mut key = None;
        if let Some(id) = report {
            if self.reported.contains_key(&(from, id)) {
                // The same exchange twice: not from an honest peer.
                self.stats.dropped_messages += 1;
                return;
            }
            if self.reported.len() < MAX_REPORTED_EXCHANGES {
                key = Some((from, id));
                self.reported.insert(
                    (from, id),
                    Reported {
                        swap: self.config.duplicates == Duplicates::Swap,
                        sent: Vec::new(),
                        received: None,
                        reported: false,
                        deadline: now + REPORT_TIMEOUT,
                    },
                );
            } else {
                tracing::debug!(peer = %from.short(), "too many reported exchanges: answered unreported");
            }
        }
        self.stats.exchanges_answered += 1;
        let free: Vec<(PeerId, usize)> = self
            .view
            .iter()
            .flat_map(|(p, es)| {
                es.iter()
                    .enumerate()
                    .filter(|(_, e)| e.state == State::Free)
                    .map(move |(i, _)| (*p, i))
            })
            .collect();
        let want = self.view_len.div_ceil(2);
        let sample: Vec<(PeerId, usize)> = free
            .choose_multiple(&mut self.rng, want.min(free.len()))
            .copied()
            .collect();
        if self.config.ages == Ages::Carry {
            // The initiator's AGES comes next.
            self.expect_ages.insert(from, now + AGE_HOLD);
        }
        self.announce_ages(now, from, &sample, false);
        let sent = self.hand_out(from, sample, key);
        if let Some(key) = key {
            if let Some(r) = self.reported.get_mut(&key) {
                r.sent = sent.into_iter().map(|(t, x)| (t, x, None)).collect();
            }
            self.progress(key);
        }
    }

    /// The partner of exchange `id` reports what it handed us.
    fn on_handed(&mut self, from: PeerId, id: u64, targets: Vec<PeerId>) {
        match self.reported.get_mut(&(from, id)) {
            Some(r) if r.received.is_none() => {
                r.received = Some(targets);
                self.progress((from, id));
            }
            _ => {
                // Unknown, ended (timed out) or reported twice.
                self.stats.dropped_messages += 1;
            }
        }
    }

    /// A reported exchange moved on: once our own bridges all ended, send
    /// HANDED; once the partner's came too, merge (or just forget it).
    fn progress(&mut self, key: ExchangeKey) {
        let local = self.local;
        let Some(r) = self.reported.get_mut(&key) else {
            return;
        };
        if !r.reported && r.sent.iter().all(|s| s.2.is_some()) {
            r.reported = true;
            let partner = key.0;
            let targets: Vec<PeerId> = r
                .sent
                .iter()
                .filter(|s| s.2 == Some(true))
                .map(|s| if s.1 == partner { local } else { s.1 })
                .take(crate::message::MAX_HANDED)
                .collect();
            self.actions.push_back(Action::Send {
                peer: partner,
                payload: Message::Handed { id: key.1, targets }.encode(),
            });
        }
        let Some(r) = self.reported.get(&key) else {
            return;
        };
        if r.reported && r.received.is_some() {
            if r.swap {
                self.merge(key);
            } else {
                self.reported.remove(&key);
            }
        }
    }

    /// End a reported exchange without merging: every arc it handed out
    /// goes (as with [`Duplicates::Keep`]); bridges still under way drop
    /// their arc when they open.
    fn end_unmerged(&mut self, key: ExchangeKey) {
        let Some(r) = self.reported.remove(&key) else {
            return;
        };
        for (token, x, _) in r.sent {
            self.release(x, token, false);
        }
    }

    /// The arc to `x` handed out by `token` (state [`State::Handed`]):
    /// unpin it, then keep it, or remove it.
    fn release(&mut self, x: PeerId, token: Token, keep: bool) {
        let Some(entry) = self
            .view
            .get_mut(&x)
            .and_then(|es| es.iter_mut().find(|e| e.state == State::Handed(token)))
        else {
            return;
        };
        self.actions.push_back(Action::Unpin { peer: x });
        if keep {
            entry.state = State::Free;
            if self.config.ages == Ages::Reset {
                entry.age = 0;
            }
        } else {
            entry.state = State::Leaving;
            self.actions.push_back(Action::Disconnect { peer: x });
        }
    }

    /// [`Duplicates::Swap`]: both reports are in; apply PeerSim's merge
    /// rule to what we received (see [`Duplicates::Swap`]).
    fn merge(&mut self, key: ExchangeKey) {
        let Some(r) = self.reported.remove(&key) else {
            return;
        };
        let ours: BTreeSet<Token> = r.sent.iter().map(|s| s.0).collect();
        // V: the view without the arcs handed out in this exchange (and
        // without those already leaving)...
        let mut v: BTreeMap<PeerId, u32> = BTreeMap::new();
        for (p, es) in &self.view {
            let n = es
                .iter()
                .filter(|e| match e.state {
                    State::Handed(t) => !ours.contains(&t),
                    State::Leaving => false,
                    _ => true,
                })
                .count() as u32;
            if n > 0 {
                v.insert(*p, n);
            }
        }
        // ... and without the received arcs (still there, unless something
        // else took them meanwhile: those are left out of the merge).
        let mut received = Vec::new();
        for y in r.received.unwrap_or_default() {
            if let Some(n) = v.get_mut(&y).filter(|n| **n > 0) {
                *n -= 1;
                received.push(y);
            }
        }
        // Our hand-outs whose arc is still here, pinned, in merge order.
        let handed: Vec<(Token, PeerId)> = r
            .sent
            .iter()
            .filter(|s| s.2 == Some(true))
            .filter(|s| {
                self.view
                    .get(&s.1)
                    .is_some_and(|es| es.iter().any(|e| e.state == State::Handed(s.0)))
            })
            .map(|s| (s.0, s.1))
            .collect();
        let mut kept: BTreeSet<Token> = BTreeSet::new();
        let mut drops: Vec<PeerId> = Vec::new();
        for y in received {
            let duplicate = v.get(&y).is_some_and(|n| *n > 0);
            if duplicate {
                let x = handed
                    .iter()
                    .find(|(t, x)| !kept.contains(t) && v.get(x).is_none_or(|n| *n == 0));
                // The received arc to y must be free to go.
                let free_y = self
                    .view
                    .get(&y)
                    .map_or(0, |es| es.iter().filter(|e| e.state == State::Free).count());
                let dropping = drops.iter().filter(|d| **d == y).count();
                if let Some(&(t, x)) = x.filter(|_| free_y > dropping) {
                    kept.insert(t);
                    drops.push(y);
                    *v.entry(x).or_default() += 1;
                    continue;
                }
            }
            *v.entry(y).or_default() += 1;
        }
        for (t, x) in handed {
            self.release(x, t, kept.contains(&t));
        }
        for y in drops {
            // The youngest free arc to y: the one just received.
            if let Some(entry) = self.view.get_mut(&y).and_then(|es| {
                es.iter_mut()
                    .filter(|e| e.state == State::Free)
                    .min_by_key(|e| e.age)
            }) {
                entry.state = State::Leaving;
                self.actions.push_back(Action::Disconnect { peer: y });
                self.stats.duplicates_swapped += 1;
            }
        }
    }

    fn on_join(&mut self, newcomer: PeerId) {
        if self.leaving || !self.inview.contains_key(&newcomer) || !self.joined.insert(newcomer) {
            // Only a peer with an arc to us joins, once per stay.
            self.stats.dropped_messages += 1;
            return;
        }
        self.stats.joins_handled += 1;
        let targets: Vec<PeerId> = self
            .view
            .iter()
            .flat_map(|(p, es)| std::iter::repeat_n(*p, es.len()))
            .filter(|p| *p != newcomer)
            .collect();
        if targets.is_empty() {
            self.connect(None, Some(newcomer), Purpose::Plain);
        } else {
            self.join_queue
                .extend(targets.into_iter().map(|q| (q, newcomer)));
            self.next_join_bridges();
        }
    }

    /// Start queued join bridges while fewer than `JOIN_BRIDGES_IN_FLIGHT`
    /// are under way.
    fn next_join_bridges(&mut self) {
        while self.joins_in_flight < JOIN_BRIDGES_IN_FLIGHT {
            let Some((q, newcomer)) = self.join_queue.pop_front() else {
                break;
            };
            self.joins_in_flight += 1;
            self.connect(Some(q), Some(newcomer), Purpose::Join);
        }
    }

    fn on_out_closed(&mut self, peer: PeerId, reason: &ArcCloseReason, count: u32) {
        let mut removed = 0u32;
        let mut asked = 0u32;
        if let Some(es) = self.view.get_mut(&peer) {
            while es.len() > count as usize {
                let pos = es
                    .iter()
                    .position(|e| e.state == State::Leaving)
                    .or_else(|| es.iter().position(|e| e.state == State::Free))
                    .unwrap_or(es.len() - 1);
                if es.swap_remove(pos).state == State::Leaving {
                    asked += 1;
                }
                removed += 1;
            }
            if es.is_empty() {
                self.view.remove(&peer);
            }
        }
        self.view_len -= removed as usize;
        let failure = matches!(
            reason,
            ArcCloseReason::ConnectionLost(_)
                | ArcCloseReason::TimedOut
                | ArcCloseReason::ProtocolViolation
        );
        if !failure || self.leaving {
            self.stats.arcs_removed += u64::from(asked);
            self.stats.arcs_closed_other += u64::from(removed - asked);
            if removed > asked {
                tracing::debug!(peer = %peer.short(), %reason, n = removed - asked, "arcs closed without asking");
            }
            return;
        }
        self.stats.arcs_lost += u64::from(removed);
        *self.lost.entry(peer).or_default() += removed;
        if count > 0 {
            return;
        }
        // The neighbour is gone: with probability 1 − 1/(|P| + occ), each
        // lost arc is replaced by a copy of a random remaining arc, so the
        // network keeps about ln N arcs per peer (the paper's onPeerDown).
        let occ = self.lost.remove(&peer).unwrap_or(0);
        for _ in 0..occ {
            if self.view_len == 0 {
                break;
            }
            let keep = 1.0 - 1.0 / (self.view_len as f64 + f64::from(occ));
            if self.rng.gen_bool(keep.clamp(0.0, 1.0)) {
                let k = self.rng.gen_range(0..self.view_len);
                let r = self
                    .view
                    .iter()
                    .flat_map(|(p, es)| std::iter::repeat_n(*p, es.len()))
                    .nth(k);
                if let Some(r) = r {
                    self.stats.arcs_replaced += 1;
                    self.connect(None, Some(r), Purpose::Plain);
                }
            }
        }
    }

    fn on_message(&mut self, now: Instant, from: PeerId, payload: &Bytes) {
        match Message::decode(payload) {
            Ok(Message::Join) => self.on_join(from),
            Ok(Message::Exchange) => self.on_exchange(now, from, None),
            Ok(Message::ExchangeReport { id }) => self.on_exchange(now, from, Some(id)),
            Ok(Message::Handed { id, targets }) => self.on_handed(from, id, targets),
            Ok(Message::Ages { entries }) => self.on_ages(now, from, entries),
            Ok(Message::Broadcast { id, payload }) => {
                if payload.len() > self.config.max_broadcast {
                    self.stats.dropped_messages += 1;
                } else if self.remember(id) {
                    self.stats.broadcasts_delivered += 1;
                    let msg = Message::Broadcast {
                        id,
                        payload: payload.clone(),
                    }
                    .encode();
                    self.actions
                        .push_back(Action::Deliver { from, id, payload });
                    self.flood(Some(from), &msg);
                }
            }
            Err(e) => {
                tracing::debug!(peer = %from.short(), "dropped: {e}");
                self.stats.dropped_messages += 1;
            }
        }
    }

    // ----- ages ([`Ages::Carry`]) ----------------------------------------

    /// Tell `partner` the ages of the arcs `sample` is about to hand it
    /// (named as it will see them). `initiator`: the sample's last entry is
    /// the oldest one, whose arc is reversed and starts at age 0.
    fn announce_ages(
        &mut self,
        now: Instant,
        partner: PeerId,
        sample: &[(PeerId, usize)],
        initiator: bool,
    ) {
        if self.config.ages != Ages::Carry {
            return;
        }
        let last = sample.len().saturating_sub(1);
        let entries: Vec<(PeerId, u16)> = sample
            .iter()
            .enumerate()
            .take(crate::message::MAX_HANDED)
            .map(|(k, (x, i))| {
                let age = if initiator && k == last {
                    0
                } else {
                    self.view
                        .get(x)
                        .and_then(|es| es.get(*i))
                        .map_or(0, |e| e.age)
                };
                let target = if *x == partner { self.local } else { *x };
                (target, u16::try_from(age).unwrap_or(u16::MAX))
            })
            .collect();
        if initiator {
            // The partner's answer comes with its own AGES.
            self.expect_ages.insert(partner, now + AGE_HOLD);
        }
        self.actions.push_back(Action::Send {
            peer: partner,
            payload: Message::Ages { entries }.encode(),
        });
    }

    /// `from` announces the ages of the arcs it is handing us. Taken once
    /// per exchange with it, and only in [`Ages::Carry`]; ages are clamped.
    fn on_ages(&mut self, now: Instant, from: PeerId, entries: Vec<(PeerId, u16)>) {
        if self.config.ages != Ages::Carry {
            // A partner that carries ages: nothing to do here.
            return;
        }
        if self
            .expect_ages
            .remove(&from)
            .is_none_or(|until| until < now)
        {
            // Not in an exchange with us (or too late).
            self.stats.dropped_messages += 1;
            return;
        }
        let until = now + AGE_HOLD;
        for (target, age) in entries {
            if target == self.local {
                // We never hold an arc to ourselves.
                self.stats.ages_unused += 1;
                continue;
            }
            if self.waiting_ages_len >= MAX_WAITING_AGES {
                self.stats.ages_unused += 1;
                continue;
            }
            self.waiting_ages_len += 1;
            self.waiting_ages
                .entry(target)
                .or_default()
                .push_back((u32::from(age).min(MAX_CARRIED_AGE), until));
        }
    }

    /// The age of a new arc to `peer`: the oldest announcement still
    /// waiting for it, else 0.
    fn carried_age(&mut self, now: Instant, peer: PeerId) -> u32 {
        let Some(q) = self.waiting_ages.get_mut(&peer) else {
            return 0;
        };
        let mut age = None;
        while let Some((a, until)) = q.pop_front() {
            self.waiting_ages_len -= 1;
            if until >= now {
                age = Some(a);
                break;
            }
            self.stats.ages_unused += 1;
        }
        if q.is_empty() {
            self.waiting_ages.remove(&peer);
        }
        if age.is_some() {
            self.stats.ages_carried += 1;
        }
        age.unwrap_or(0)
    }

    /// Forget announcements whose arc did not open in time, and partners
    /// whose `AGES` did not come.
    fn expire_ages(&mut self, now: Instant) {
        self.expect_ages.retain(|_, until| *until >= now);
        let mut dropped = 0;
        self.waiting_ages.retain(|_, q| {
            let before = q.len();
            q.retain(|(_, until)| *until >= now);
            dropped += before - q.len();
            !q.is_empty()
        });
        self.waiting_ages_len -= dropped;
        self.stats.ages_unused += dropped as u64;
    }

    // ----- helpers -------------------------------------------------------

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    fn connect(&mut self, from: Option<PeerId>, to: Option<PeerId>, purpose: Purpose) {
        let token = self.token();
        self.pending.insert(token, purpose);
        self.actions.push_back(Action::Connect { token, from, to });
    }

    fn maybe_left(&mut self) {
        if self.leaving && !self.left && self.pending.is_empty() {
            self.left = true;
            self.actions.push_back(Action::Left);
        }
    }

    /// Whether `id` is new (and remember it, forgetting the oldest).
    fn remember(&mut self, id: u64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        while self.seen_order.len() > self.config.broadcast_memory.max(1) {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn flood(&mut self, except: Option<PeerId>, msg: &Bytes) {
        let to: BTreeSet<PeerId> = self
            .view
            .keys()
            .chain(self.inview.keys())
            .copied()
            .filter(|p| Some(*p) != except)
            .collect();
        for peer in to {
            self.actions.push_back(Action::Send {
                peer,
                payload: msg.clone(),
            });
        }
    }
}
