//! Spray on the simulator: one [`Spray`] per simulated engine, driven by
//! the engines' events (read through [`Sim::set_output_hook`]) and by
//! Spray's own timers, interleaved on the virtual clock.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use overlay_core::sim::{NodeId, Sim, SimConfig};
use overlay_core::{ConnectError, OpId, Output, PeerId, ProtocolId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::graph::Graph;
use crate::protocol::{Action, Spray, SprayConfig, SprayStats, Token};

type Inbox = Rc<RefCell<Vec<(NodeId, Output)>>>;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A Spray connect.
    Spray(Token),
    /// A newcomer's out-of-band join to `contact`.
    Join(NodeId),
}

/// Counters of a [`SpraySim`] run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpraySimStats {
    /// Joins whose out-of-band arc opened.
    pub joins_ok: u64,
    /// Joins that failed (the newcomer is left alone; it is removed).
    pub joins_failed: u64,
    /// Connects the engine refused at once (peer not a neighbour any more...).
    pub connects_refused: u64,
    /// Actions the engine refused (pin/unpin/disconnect/send on a vanished arc).
    pub actions_refused: u64,
    /// Broadcasts delivered, all peers.
    pub delivered: u64,
}

/// A simulated network of Spray peers. See the [module docs](self).
pub struct SpraySim {
    sim: Sim,
    protocol: ProtocolId,
    config: SprayConfig,
    peers: Vec<Option<Spray>>,
    inbox: Inbox,
    timers: BinaryHeap<Reverse<(Duration, u32)>>,
    /// The deadline each peer's heap entry is for (older entries are stale).
    armed: Vec<Option<Duration>>,
    members: Vec<NodeId>,
    member_pos: Vec<Option<usize>>,
    ops: HashMap<(NodeId, OpId), Op>,
    rng: ChaCha8Rng,
    base: Instant,
    stats: SpraySimStats,
    live: usize,
}

impl std::fmt::Debug for SpraySim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpraySim")
            .field("peers", &self.live)
            .field("elapsed", &self.sim.elapsed())
            .finish()
    }
}

impl SpraySim {
    /// A simulation of Spray peers on `protocol`. Outputs are not recorded
    /// (`sim` keeps counters only) whatever `sim_config` says.
    pub fn new(sim_config: SimConfig, config: SprayConfig, protocol: ProtocolId) -> Self {
        let seed = sim_config.seed;
        let mut sim = Sim::new(sim_config.with_record_outputs(false));
        let inbox: Inbox = Rc::default();
        let hook_inbox = inbox.clone();
        sim.set_output_hook(Some(Box::new(move |node, out| {
            let keep = match out {
                Output::Event { protocol: p, .. } => *p == protocol,
                Output::Completed(_) => true,
                _ => false,
            };
            if keep {
                hook_inbox.borrow_mut().push((node, out.clone()));
            }
        })));
        let base = sim.now();
        SpraySim {
            sim,
            protocol,
            config,
            peers: Vec::new(),
            inbox,
            timers: BinaryHeap::new(),
            armed: Vec::new(),
            members: Vec::new(),
            member_pos: Vec::new(),
            ops: HashMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5b7a_u64),
            base,
            stats: SpraySimStats::default(),
            live: 0,
        }
    }

    /// The simulator underneath (queries: engines, stats, invariants).
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The simulator underneath, to crash, partition or change the network.
    /// Prefer [`SpraySim::crash`] to crash a peer (it also stops its Spray).
    pub fn sim_mut(&mut self) -> &mut Sim {
        &mut self.sim
    }

    /// The protocol Spray runs on.
    pub fn protocol(&self) -> ProtocolId {
        self.protocol
    }

    /// Peers alive (joined or joining, not crashed, not left).
    pub fn live(&self) -> usize {
        self.live
    }

    /// Every live peer.
    pub fn live_nodes(&self) -> Vec<NodeId> {
        self.sim
            .node_ids()
            .filter(|n| self.peers[n.0 as usize].is_some())
            .collect()
    }

    /// The Spray state of `node`, if it is alive.
    pub fn spray(&self, node: NodeId) -> Option<&Spray> {
        self.peers.get(node.0 as usize).and_then(Option::as_ref)
    }

    /// Counters.
    pub fn stats(&self) -> SpraySimStats {
        self.stats
    }

    /// Spray's counters summed over the live peers.
    pub fn spray_stats(&self) -> SprayStats {
        let mut t = SprayStats::default();
        for s in self.peers.iter().flatten() {
            let s = s.stats();
            t.exchanges_started += s.exchanges_started;
            t.exchanges_answered += s.exchanges_answered;
            t.joins_handled += s.joins_handled;
            t.arcs_moved += s.arcs_moved;
            t.moves_failed += s.moves_failed;
            t.arcs_lost += s.arcs_lost;
            t.arcs_replaced += s.arcs_replaced;
            t.connects_failed += s.connects_failed;
            t.dropped_messages += s.dropped_messages;
            t.broadcasts_delivered += s.broadcasts_delivered;
            t.duplicates_swapped += s.duplicates_swapped;
            t.reports_missed += s.reports_missed;
            t.ages_carried += s.ages_carried;
            t.ages_unused += s.ages_unused;
            t.arcs_opened += s.arcs_opened;
            t.arcs_removed += s.arcs_removed;
            t.arcs_closed_other += s.arcs_closed_other;
        }
        t
    }

    /// A random member: a live peer whose join completed (or the first
    /// peer). Newcomers pick their contact with it.
    pub fn random_member(&mut self) -> Option<NodeId> {
        if self.members.is_empty() {
            None
        } else {
            Some(self.members[self.rng.gen_range(0..self.members.len())])
        }
    }

    /// Members: live peers whose join completed.
    pub fn members(&self) -> usize {
        self.members.len()
    }

    fn add_member(&mut self, node: NodeId) {
        self.member_pos[node.0 as usize] = Some(self.members.len());
        self.members.push(node);
    }

    /// Add a peer. With a `contact`, it joins through it (out of band, then
    /// JOIN); without, it is the first peer and just starts.
    pub fn add_peer(&mut self, contact: Option<NodeId>) -> NodeId {
        let node = self.sim.add_node();
        let seed = self.rng.gen();
        let spray = Spray::new(self.sim.peer(node), self.config.clone(), seed);
        if self.peers.len() <= node.0 as usize {
            self.peers.resize_with(node.0 as usize + 1, || None);
            self.armed.resize(node.0 as usize + 1, None);
            self.member_pos.resize(node.0 as usize + 1, None);
        }
        self.peers[node.0 as usize] = Some(spray);
        self.live += 1;
        match contact {
            Some(c) => match self.sim.join(node, c, self.protocol) {
                Ok(op) => {
                    self.ops.insert((node, op.op), Op::Join(c));
                }
                Err(_) => self.remove(node),
            },
            None => {
                self.add_member(node);
                let now = self.sim.now();
                if let Some(s) = self.peers[node.0 as usize].as_mut() {
                    s.start(now);
                }
                self.flush(node);
            }
        }
        self.pump();
        node
    }

    /// Crash `node`: it stops without a word; its neighbours find out after
    /// the network's crash detection delay.
    pub fn crash(&mut self, node: NodeId) {
        if self.peers.get(node.0 as usize).is_some_and(Option::is_some) {
            self.sim.crash(node);
            self.remove(node);
        }
    }

    /// `node` leaves gracefully (hands its inview over, then shuts down).
    pub fn leave(&mut self, node: NodeId) {
        let now = self.sim.now();
        if let Some(s) = self.peers.get_mut(node.0 as usize).and_then(Option::as_mut) {
            s.leave(now);
            self.flush(node);
            self.pump();
        }
    }

    /// Grow the network to `n` live peers: newcomers at `rate` per second
    /// of virtual time, each through a random member, but never more than
    /// 2% of the members joining at once (one at a time while small). Newcomers only join members whose own
    /// join completed: a burst of joins through a contact whose view is
    /// still empty would leave the whole network with fewer arcs for good
    /// (the mean view is ln N plus a constant set while the network is
    /// small). Returns when every join has ended.
    pub fn grow(&mut self, n: usize, rate: f64) {
        let step = Duration::from_millis(100);
        let per_step = rate.max(0.1) * step.as_secs_f64();
        let mut owed = 0.0;
        if self.members.is_empty() && self.live == 0 && n > 0 {
            self.add_peer(None);
        }
        while self.live < n {
            owed = (owed + per_step).min(per_step.max(1.0));
            // Joins in flight: at most 2% of the members (one while small).
            let cap = (self.members.len() / 50)
                .max(1)
                .saturating_sub(self.live - self.members.len());
            let mut added = 0;
            while owed >= 1.0 && added < cap && self.live < n {
                owed -= 1.0;
                added += 1;
                let contact = self.random_member();
                self.add_peer(contact);
            }
            self.run_for(step);
        }
        // Let the last joins end.
        let limit = self.sim.elapsed() + Duration::from_secs(60);
        while self.members.len() < self.live && self.sim.elapsed() < limit {
            self.run_for(step);
        }
    }

    /// `node` starts a shuffle now with `partner` (see
    /// [`Spray::exchange_with`]); false if it has no free arc to it.
    pub fn exchange(&mut self, node: NodeId, partner: NodeId) -> bool {
        let now = self.sim.now();
        let partner = self.sim.peer(partner);
        let started = self
            .peers
            .get_mut(node.0 as usize)
            .and_then(Option::as_mut)
            .is_some_and(|s| s.exchange_with(now, partner));
        self.flush(node);
        self.pump();
        started
    }

    /// `node` floods `payload` over the overlay.
    pub fn broadcast(&mut self, node: NodeId, payload: Bytes) -> Option<u64> {
        let id = self
            .peers
            .get_mut(node.0 as usize)
            .and_then(Option::as_mut)
            .map(|s| s.broadcast(payload))?;
        self.flush(node);
        self.pump();
        Some(id)
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.sim.elapsed() + d;
        self.run_until(end);
    }

    /// Run until virtual time `end` (from the start).
    pub fn run_until(&mut self, end: Duration) {
        loop {
            let sim_next = self.sim.next_at();
            let timer_next = self.timers.peek().map(|Reverse((at, _))| *at);
            match (sim_next, timer_next) {
                (_, Some(t)) if t <= end && sim_next.is_none_or(|s| t < s) => {
                    if let Some(Reverse((at, n))) = self.timers.pop() {
                        if self.armed.get(n as usize).copied().flatten() == Some(at) {
                            self.armed[n as usize] = None;
                            // Bring the simulator's clock to the deadline.
                            self.sim.run_until(at);
                            self.pump();
                            self.fire(NodeId(n));
                        }
                    }
                }
                (Some(s), _) if s <= end => {
                    self.sim.step();
                    self.pump();
                }
                _ => break,
            }
        }
        // Move the clock to `end`.
        self.sim.run_until(end);
        self.pump();
        // Completions reach us through the hook; the simulator's own copies
        // would grow without bound.
        self.sim.clear_completions();
    }

    /// Run until nothing is in flight in the network (at most `limit` of
    /// virtual time) without firing Spray's timers: no shuffle starts, the
    /// ones under way end (a missed report's timeout does not fire either).
    /// Whether it got quiet. For checks that need a quiet network, such as
    /// [`Sim::check_invariants`]; the timers held back fire at the next run.
    pub fn settle(&mut self, limit: Duration) -> bool {
        let end = self.sim.elapsed() + limit;
        self.pump();
        while !self.sim.is_quiet() {
            match self.sim.next_at() {
                Some(at) if at <= end => {
                    self.sim.step();
                    self.pump();
                }
                _ => return false,
            }
        }
        self.sim.clear_completions();
        true
    }

    /// The overlay as a graph of the members (live peers whose join
    /// completed; a newcomer still joining has no arc yet), arcs from the
    /// engines' outviews.
    pub fn graph(&self) -> Graph {
        let mut live = self.members.clone();
        live.sort_unstable();
        let index: HashMap<NodeId, u32> = live
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let mut out = Vec::with_capacity(live.len());
        for n in &live {
            let mut arcs = Vec::new();
            for (peer, count) in self.sim.engine(*n).outview(&self.protocol) {
                if let Some(j) = self.sim.node_of(&peer).and_then(|m| index.get(&m)) {
                    for _ in 0..count {
                        arcs.push(*j);
                    }
                }
            }
            out.push(arcs);
        }
        Graph::new(out)
    }

    // ----- internals -----------------------------------------------------

    fn remove(&mut self, node: NodeId) {
        if let Some(slot) = self.peers.get_mut(node.0 as usize) {
            if slot.take().is_some() {
                self.live -= 1;
            }
        }
        if let Some(pos) = self.member_pos[node.0 as usize].take() {
            self.members.swap_remove(pos);
            if let Some(moved) = self.members.get(pos) {
                self.member_pos[moved.0 as usize] = Some(pos);
            }
        }
        self.armed[node.0 as usize] = None;
    }

    fn fire(&mut self, node: NodeId) {
        let now = self.sim.now();
        let due = self
            .spray(node)
            .and_then(Spray::poll_timeout)
            .is_some_and(|at| at <= now);
        if due {
            if let Some(s) = self.peers[node.0 as usize].as_mut() {
                s.handle_timeout(now);
            }
            self.flush(node);
            self.pump();
        }
    }

    /// Hand every routed output to its peer's Spray, until none is left.
    fn pump(&mut self) {
        loop {
            let batch = std::mem::take(&mut *self.inbox.borrow_mut());
            if batch.is_empty() {
                return;
            }
            for (node, out) in batch {
                self.dispatch(node, out);
            }
        }
    }

    fn dispatch(&mut self, node: NodeId, out: Output) {
        let now = self.sim.now();
        match out {
            Output::Event { event, .. } => {
                if let Some(s) = self.peers.get_mut(node.0 as usize).and_then(Option::as_mut) {
                    s.handle_event(now, &event);
                    self.flush(node);
                }
            }
            Output::Completed(c) => match self.ops.remove(&(node, c.op)) {
                Some(Op::Spray(token)) => {
                    if let Some(s) = self.peers.get_mut(node.0 as usize).and_then(Option::as_mut) {
                        s.handle_connect_result(now, token, c.result.is_ok());
                        self.flush(node);
                    }
                }
                Some(Op::Join(contact)) => {
                    if c.result.is_ok() {
                        self.stats.joins_ok += 1;
                        self.add_member(node);
                        let contact = self.sim.peer(contact);
                        if let Some(s) =
                            self.peers.get_mut(node.0 as usize).and_then(Option::as_mut)
                        {
                            s.join(now, contact);
                            self.flush(node);
                        }
                    } else {
                        self.stats.joins_failed += 1;
                        self.sim.act(node, |e, now| e.shutdown(now));
                        self.remove(node);
                    }
                }
                None => {}
            },
            _ => {}
        }
    }

    /// Apply every action `node`'s Spray has queued, re-arm its timer.
    fn flush(&mut self, node: NodeId) {
        let p = self.protocol;
        loop {
            let Some(s) = self.peers.get_mut(node.0 as usize).and_then(Option::as_mut) else {
                return;
            };
            let Some(action) = s.poll_action() else { break };
            match action {
                Action::Connect { token, from, to } => {
                    let local = s.local_id();
                    let from = [from.unwrap_or(local)];
                    let to = [to.unwrap_or(local)];
                    let r: Result<OpId, ConnectError> =
                        self.sim.act(node, |e, now| e.connect(now, p, &from, &to));
                    match r {
                        Ok(op) => {
                            self.ops.insert((node, op), Op::Spray(token));
                        }
                        Err(_) => {
                            self.stats.connects_refused += 1;
                            let now = self.sim.now();
                            if let Some(s) =
                                self.peers.get_mut(node.0 as usize).and_then(Option::as_mut)
                            {
                                s.handle_connect_result(now, token, false);
                            }
                        }
                    }
                }
                Action::Disconnect { peer } => {
                    let ok = self
                        .sim
                        .act(node, |e, now| e.disconnect(now, p, peer))
                        .is_ok();
                    self.count(ok);
                }
                Action::Pin { peer } => {
                    let ok = self.sim.act(node, |e, _| e.pin(p, peer)).is_ok();
                    self.count(ok);
                }
                Action::Unpin { peer } => {
                    let ok = self.sim.act(node, |e, _| e.unpin(p, peer)).is_ok();
                    self.count(ok);
                }
                Action::Send { peer, payload } => {
                    let ok = self
                        .sim
                        .act(node, |e, now| e.send(now, p, peer, payload))
                        .is_ok();
                    self.count(ok);
                }
                Action::Deliver { .. } => self.stats.delivered += 1,
                Action::Left => {
                    self.sim.act(node, |e, now| e.shutdown(now));
                    self.remove(node);
                    return;
                }
            }
        }
        let deadline = self
            .spray(node)
            .and_then(Spray::poll_timeout)
            .map(|t| t.saturating_duration_since(self.base));
        let slot = &mut self.armed[node.0 as usize];
        if deadline != *slot {
            *slot = deadline;
            if let Some(d) = deadline {
                self.timers.push(Reverse((d, node.0)));
            }
        }
    }

    fn count(&mut self, ok: bool) {
        if !ok {
            self.stats.actions_refused += 1;
        }
    }

    /// The peer id of `node`.
    pub fn peer(&self, node: NodeId) -> PeerId {
        self.sim.peer(node)
    }
}
