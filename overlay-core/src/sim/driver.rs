//! The [`Sim`] driver: N engines, one simulated network, one virtual clock.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{ConnectError, SendError};
use crate::event::{Completion, Event, Output};
use crate::id::{ConnId, HandshakeId, Keypair, OpId, PeerId, ProtocolId};
use crate::signal::SignalEnvelope;
use crate::transport::{CloseReason, TransportCommand, TransportEvent};

use super::invariant::{self, InvariantError, Violation};
use super::network::{NetConfig, Network, NodeId};
use super::queue::{Item, Queue};
use super::transport::{FaultHook, SimTransport, TransportStats};

/// How a simulation is set up.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SimConfig {
    /// The seed of every random draw (keys, handshake ids, the network).
    pub seed: u64,
    /// The network model.
    pub net: NetConfig,
    /// The configuration of every engine.
    pub engine: Config,
    /// Keep every node's outputs for [`Sim::outputs`] (tests); off for
    /// large runs, where only counters and completions are kept.
    pub record_outputs: bool,
    /// Check each node's local invariants after every input it handles
    /// (see [`Sim::local_violations`]). Off by default (it costs a scan of
    /// the node's tables per step).
    pub check_every_step: bool,
    /// How the engines sign and check signals and `Hello`s. Default
    /// [`Signatures::Ed25519`], as real nodes do.
    pub signatures: Signatures,
}

/// The signature scheme of a simulation's engines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signatures {
    /// Ed25519 with strict verification, as every real node.
    #[default]
    Ed25519,
    /// A keyed SHA-512 stands in for Ed25519: the engines sign the same
    /// transcripts and run the same checks (a signature by another peer,
    /// over other bytes or for another destination is refused just the
    /// same; so is any real Ed25519 signature), ~50× cheaper. For runs too
    /// large to pay for the curve arithmetic (at 10,000 Spray peers it is
    /// more than half the CPU). The key is drawn from the simulation's
    /// seed. Nothing outside the simulator can select it.
    Simulated,
}

impl SimConfig {
    /// Defaults for `seed`: default network and engine, outputs recorded.
    pub fn new(seed: u64) -> Self {
        SimConfig {
            seed,
            net: NetConfig::default(),
            engine: Config::default(),
            record_outputs: true,
            check_every_step: false,
            signatures: Signatures::Ed25519,
        }
    }

    /// Use this signature scheme.
    pub fn with_signatures(mut self, signatures: Signatures) -> Self {
        self.signatures = signatures;
        self
    }

    /// Check local invariants after every step (or not).
    pub fn with_check_every_step(mut self, check: bool) -> Self {
        self.check_every_step = check;
        self
    }

    /// Use this network model.
    pub fn with_net(mut self, net: NetConfig) -> Self {
        self.net = net;
        self
    }

    /// Use this engine configuration.
    pub fn with_engine(mut self, engine: Config) -> Self {
        self.engine = engine;
        self
    }

    /// Record outputs (or not).
    pub fn with_record_outputs(mut self, record: bool) -> Self {
        self.record_outputs = record;
        self
    }
}

/// An operation started on a node: which node, which op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpRef {
    /// The node that started it.
    pub node: NodeId,
    /// Its id in that node's engine.
    pub op: OpId,
}

/// Counters of a simulation run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Inputs fed to engines: transport events, timeouts, signals, API calls.
    pub engine_inputs: u64,
    /// Queue entries processed (including stale timers and dropped events).
    pub steps: u64,
    /// Transport commands the engines issued.
    pub commands: u64,
    /// Outputs the engines produced.
    pub outputs: u64,
    /// Out-of-band signals carried by the simulated signaling server.
    pub signals_carried: u64,
    /// Out-of-band signals with no route (handshake unknown to the server).
    pub signals_unroutable: u64,
    /// Out-of-band signals an engine refused.
    pub signals_refused: u64,
    /// Application messages delivered, all nodes.
    pub messages_delivered: u64,
    /// Times an engine asked again for a deadline that had just been
    /// handled (an engine bug; should stay 0).
    pub stuck_timers: u64,
    /// Times an engine was asked for its next deadline: once per node that
    /// got input, however many inputs it got before the clock could move.
    pub deadline_polls: u64,
    /// The simulated transport's counters.
    pub transport: TransportStats,
}

/// A hook that sees every output of every engine, in order, as the
/// simulator routes it (see [`Sim::set_output_hook`]).
pub type OutputHook = Box<dyn FnMut(NodeId, &Output)>;

/// A route of the simulated signaling server for one out-of-band handshake.
#[derive(Debug)]
struct Route {
    initiator: NodeId,
    acceptor: NodeId,
    /// Arrival of the last signal each way (the server keeps order).
    last: [Duration; 2],
}

pub(crate) struct SimNode {
    pub(crate) engine: Engine,
    pub(crate) peer: PeerId,
    /// The deadline the queue holds a timer for.
    timer: Option<Duration>,
    /// Got input since its deadline was last asked for (it is in
    /// [`Sim::dirty`]).
    dirty: bool,
    outputs: Vec<(Duration, Output)>,
}

/// A whole network of engines in one thread on a virtual clock. See the
/// [module docs](super).
pub struct Sim {
    config: SimConfig,
    base: Instant,
    rng: ChaCha8Rng,
    pub(crate) net: Network,
    pub(crate) transport: SimTransport,
    queue: Queue,
    pub(crate) nodes: Vec<SimNode>,
    /// Nodes whose engine got input since their deadline was last asked
    /// for: only these are asked again ([`Sim::settle`]), once each, before
    /// the clock can move.
    dirty: Vec<NodeId>,
    by_peer: BTreeMap<PeerId, NodeId>,
    routes: BTreeMap<HandshakeId, Route>,
    completions: BTreeMap<OpRef, Completion>,
    completed: VecDeque<(NodeId, Completion)>,
    stats: SimStats,
    trace: DefaultHasher,
    output_hook: Option<OutputHook>,
    local_violations: Vec<(Duration, Violation)>,
    /// The key of [`Signatures::Simulated`], if the run uses it.
    signature_secret: Option<[u8; 32]>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.config.seed)
            .field("nodes", &self.nodes.len())
            .field("elapsed", &self.queue.now())
            .field("queued", &self.queue.len())
            .field("routes", &self.routes.len())
            .field("partitioned", &self.net.is_partitioned())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// An empty simulation.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let net_seed = rng.gen();
        let signature_secret = match config.signatures {
            Signatures::Ed25519 => None,
            Signatures::Simulated => Some(ChaCha8Rng::seed_from_u64(config.seed ^ 0x5157).gen()),
        };
        Sim {
            signature_secret,
            net: Network::new(config.net.clone(), net_seed),
            config,
            base: Instant::now(),
            rng,
            transport: SimTransport::default(),
            queue: Queue::default(),
            nodes: Vec::new(),
            dirty: Vec::new(),
            by_peer: BTreeMap::new(),
            routes: BTreeMap::new(),
            completions: BTreeMap::new(),
            completed: VecDeque::new(),
            stats: SimStats::default(),
            trace: DefaultHasher::new(),
            output_hook: None,
            local_violations: Vec::new(),
        }
    }

    /// Add a node (a fresh key and engine, seeded from the simulation's RNG).
    pub fn add_node(&mut self) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        let keypair = Keypair::from_secret_bytes(self.rng.gen());
        let seed = self.rng.gen();
        let mut engine = Engine::new(
            self.config.engine.clone(),
            keypair,
            seed,
            self.net.config.send_window,
        );
        if let Some(secret) = self.signature_secret {
            engine.simulate_signatures(secret);
        }
        let peer = engine.local_id();
        self.nodes.push(SimNode {
            engine,
            peer,
            timer: None,
            dirty: false,
            outputs: Vec::new(),
        });
        self.by_peer.insert(peer, id);
        self.net.add_node();
        self.transport.add_node();
        id
    }

    /// Add `n` nodes.
    pub fn add_nodes(&mut self, n: usize) -> Vec<NodeId> {
        (0..n).map(|_| self.add_node()).collect()
    }

    // ----- getters -------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.queue.now()
    }

    /// The virtual now, as the engines see it.
    pub fn now(&self) -> Instant {
        self.base + self.queue.now()
    }

    /// Nodes added so far.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node.
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> {
        (0..self.nodes.len() as u32).map(NodeId)
    }

    /// Whether `node` runs (it was not crashed).
    pub fn is_alive(&self, node: NodeId) -> bool {
        self.transport.is_alive(node)
    }

    /// The engine of `node`, for queries.
    ///
    /// # Panics
    /// If `node` was not returned by [`Sim::add_node`] (a bug in the test).
    pub fn engine(&self, node: NodeId) -> &Engine {
        &self.nodes[node.idx()].engine
    }

    /// The peer id of `node`.
    ///
    /// # Panics
    /// If `node` does not exist.
    pub fn peer(&self, node: NodeId) -> PeerId {
        self.nodes[node.idx()].peer
    }

    /// The node owning `peer`.
    pub fn node_of(&self, peer: &PeerId) -> Option<NodeId> {
        self.by_peer.get(peer).copied()
    }

    /// How operation `op` ended, once it has.
    pub fn completion(&self, op: OpRef) -> Option<&Completion> {
        self.completions.get(&op)
    }

    /// Forget every completion kept for [`Sim::completion`] and
    /// [`Sim::take_completions`]. Long runs that follow completions through
    /// an output hook call it now and then to bound memory.
    pub fn clear_completions(&mut self) {
        self.completions.clear();
        self.completed.clear();
    }

    /// Completions since the last call, in the order they happened.
    pub fn take_completions(&mut self) -> Vec<(NodeId, Completion)> {
        self.completed.drain(..).collect()
    }

    /// Everything `node`'s engine output, with its virtual time (empty
    /// unless [`SimConfig::record_outputs`]).
    pub fn outputs(&self, node: NodeId) -> &[(Duration, Output)] {
        self.nodes.get(node.idx()).map_or(&[], |n| &n.outputs)
    }

    /// The events of `protocol` that `node` got, in order.
    pub fn events(&self, node: NodeId, protocol: ProtocolId) -> Vec<Event> {
        self.outputs(node)
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Event { protocol: p, event } if *p == protocol => Some(event.clone()),
                _ => None,
            })
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> SimStats {
        SimStats {
            transport: self.transport.stats,
            ..self.stats
        }
    }

    /// A hash of everything that happened so far (every event fed to an
    /// engine and everything it answered). Same seed, same calls: same hash.
    pub fn trace_hash(&self) -> u64 {
        self.trace.finish()
    }

    /// The transport's connection id on `node` toward `peer` (the newest).
    pub fn conn_between(&self, node: NodeId, peer: NodeId) -> Option<ConnId> {
        self.transport.conn_to(node, peer)
    }

    /// Connections the simulated transport holds for `node`.
    pub fn transport_connections(&self, node: NodeId) -> usize {
        self.transport.endpoint_count(node)
    }

    /// Whether the network is quiet: nothing in flight, only engine timers
    /// (pending and dying timeouts) are left.
    pub fn is_quiet(&self) -> bool {
        !self.queue.has_activity()
    }

    /// Virtual time (from the start) of the next queued entry, if any.
    /// A driver that runs its own timers beside the simulation (an overlay
    /// protocol on top of the engines) steps until its next deadline.
    /// Takes `&mut self`: engines that got input since the last read are
    /// asked for their deadlines first (each once), so none is missed.
    pub fn next_at(&mut self) -> Option<Duration> {
        self.settle();
        self.queue.next_at()
    }

    /// Entries in the event queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    // ----- commands ------------------------------------------------------

    /// Run `f` on `node`'s engine at the current virtual time, then route
    /// what it output. Every other command is built on this one.
    ///
    /// # Panics
    /// If `node` does not exist.
    pub fn act<R>(&mut self, node: NodeId, f: impl FnOnce(&mut Engine, Instant) -> R) -> R {
        let now = self.now();
        self.stats.engine_inputs += 1;
        let span = tracing::debug_span!("peer", n = node.0);
        let r = span.in_scope(|| f(&mut self.nodes[node.idx()].engine, now));
        self.after_input(node);
        r
    }

    /// `node` joins `contact` out of band: an arc `node -> contact` of
    /// `protocol`, its signals carried by the simulated signaling server.
    ///
    /// # Errors
    /// What [`Engine::connect_out_of_band`] refuses.
    pub fn join(
        &mut self,
        node: NodeId,
        contact: NodeId,
        protocol: ProtocolId,
    ) -> Result<OpRef, ConnectError> {
        self.join_many(node, contact, protocol, 1)
    }

    /// Like [`Sim::join`], for `count` arcs.
    ///
    /// # Errors
    /// What [`Engine::connect_out_of_band`] refuses.
    pub fn join_many(
        &mut self,
        node: NodeId,
        contact: NodeId,
        protocol: ProtocolId,
        count: u32,
    ) -> Result<OpRef, ConnectError> {
        if node == contact {
            return Err(ConnectError::SelfConnection(self.peer(node)));
        }
        let (op, h) = self.act(node, |e, now| e.connect_out_of_band(now, protocol, count))?;
        let now = self.queue.now();
        self.routes.insert(
            h,
            Route {
                initiator: node,
                acceptor: contact,
                last: [now, now],
            },
        );
        Ok(OpRef { node, op })
    }

    /// [`Engine::connect`] on `node`, with nodes for peers.
    ///
    /// # Errors
    /// What [`Engine::connect`] refuses at once.
    pub fn connect(
        &mut self,
        node: NodeId,
        protocol: ProtocolId,
        from: &[NodeId],
        to: &[NodeId],
    ) -> Result<OpRef, ConnectError> {
        let from: Vec<PeerId> = from.iter().map(|n| self.peer(*n)).collect();
        let to: Vec<PeerId> = to.iter().map(|n| self.peer(*n)).collect();
        let op = self.act(node, |e, now| e.connect(now, protocol, &from, &to))?;
        Ok(OpRef { node, op })
    }

    /// [`Engine::send`] from `node` to `to`.
    ///
    /// # Errors
    /// What [`Engine::send`] refuses.
    pub fn send(
        &mut self,
        node: NodeId,
        protocol: ProtocolId,
        to: NodeId,
        payload: Bytes,
    ) -> Result<(), SendError> {
        let peer = self.peer(to);
        self.act(node, |e, now| e.send(now, protocol, peer, payload))
    }

    /// [`Engine::disconnect`]: remove one arc `node -> to`.
    ///
    /// # Errors
    /// What [`Engine::disconnect`] refuses.
    pub fn disconnect(
        &mut self,
        node: NodeId,
        protocol: ProtocolId,
        to: NodeId,
    ) -> Result<(), crate::error::ArcError> {
        let peer = self.peer(to);
        self.act(node, |e, now| e.disconnect(now, protocol, peer))
    }

    /// Crash `node`: its engine stops for good, its connections vanish
    /// without a word, and its neighbours see them fail after
    /// [`NetConfig::crash_detect`].
    pub fn crash(&mut self, node: NodeId) {
        self.trace_tag(b"crash", node, 0);
        self.transport.crash(&self.net, &mut self.queue, node);
    }

    /// Split the network: each slice is one side, unnamed nodes form one
    /// more. Frames across are held; connections across time out after
    /// [`NetConfig::consent_timeout`] unless [`Sim::heal`] comes first.
    pub fn partition(&mut self, sides: &[&[NodeId]]) {
        self.trace_tag(b"partition", NodeId(sides.len() as u32), 0);
        self.net.partition(sides);
        self.transport.partitioned(&self.net, &mut self.queue);
    }

    /// End the partition: held frames go on.
    pub fn heal(&mut self) {
        self.trace_tag(b"heal", NodeId(0), 0);
        self.net.heal();
        self.transport.healed(&mut self.net, &mut self.queue);
    }

    /// The network model, to change it mid-run (later draws use it).
    pub fn net_config_mut(&mut self) -> &mut NetConfig {
        &mut self.net.config
    }

    /// Whether the network is split.
    pub fn is_partitioned(&self) -> bool {
        self.net.is_partitioned()
    }

    /// Install (or remove) a hook that sees every frame sent and may drop
    /// or replace it.
    pub fn set_fault_hook(&mut self, hook: Option<FaultHook>) {
        self.transport.set_fault_hook(hook);
    }

    /// From now on, a relay sits in the middle of every connection `a` and
    /// `b` open to each other, as a bridge that terminated DTLS with each
    /// would: each sees a relay certificate, frames pass unchanged. The
    /// `HELLO` check must catch it (`ConnectFailure::Tampered`).
    pub fn intercept(&mut self, a: NodeId, b: NodeId) {
        self.transport.intercept(a, b);
    }

    /// Install (or remove) a hook that sees every output of every engine
    /// (events, completions, signals) as it is routed, whether or not
    /// [`SimConfig::record_outputs`] keeps them. A protocol driven on top of
    /// the engines (it reacts to their events) reads them here.
    pub fn set_output_hook(&mut self, hook: Option<OutputHook>) {
        self.output_hook = hook;
    }

    /// Fault injection: hand `node`'s engine a transport event at once,
    /// whatever the transport knows (raw frames, bogus closes, events for
    /// unknown connections...).
    pub fn inject(&mut self, node: NodeId, event: TransportEvent) {
        self.queue.after(
            Duration::ZERO,
            Item::Transport {
                node,
                event,
                forced: true,
            },
        );
        // Process it now so the caller sees its effect.
        self.run_for(Duration::ZERO);
    }

    /// Fault injection: deliver raw `bytes` to `node` as a frame on its
    /// connection with `from`, as if `from` had sent them.
    ///
    /// # Errors
    /// `Err` if `node` has no connection with `from` in the transport.
    pub fn inject_frame(
        &mut self,
        node: NodeId,
        from: NodeId,
        bytes: Bytes,
    ) -> Result<(), NoConnection> {
        let conn = self
            .conn_between(node, from)
            .ok_or(NoConnection { node, peer: from })?;
        self.inject(node, TransportEvent::Frame { conn, frame: bytes });
        Ok(())
    }

    // ----- running -------------------------------------------------------

    /// Process the next queue entry; `false` if the queue is empty.
    pub fn step(&mut self) -> bool {
        self.settle();
        let Some((at, item)) = self.queue.pop() else {
            return false;
        };
        self.stats.steps += 1;
        let at_nanos = at.as_nanos() as u64;
        match item {
            Item::Transport {
                node,
                event,
                forced,
            } => {
                let ok = forced
                    || self
                        .transport
                        .deliverable(&self.net, &mut self.queue, node, &event);
                if ok && self.transport.is_alive(node) {
                    self.feed(node, at_nanos, event);
                }
            }
            Item::Timer { node } => {
                let n = &mut self.nodes[node.idx()];
                if n.timer == Some(at) && self.transport.is_alive(node) {
                    n.timer = None;
                    at_nanos.hash(&mut self.trace);
                    (b"timeout", node.0).hash(&mut self.trace);
                    let now = self.now();
                    self.stats.engine_inputs += 1;
                    let span = tracing::debug_span!("peer", n = node.0);
                    span.in_scope(|| self.nodes[node.idx()].engine.handle_timeout(now));
                    self.after_input(node);
                    self.settle();
                    let n = &mut self.nodes[node.idx()];
                    if n.timer.is_some_and(|d| d <= at) {
                        // The engine still wants a deadline it was just given:
                        // an engine bug. Count it and back off instead of spinning.
                        self.stats.stuck_timers += 1;
                        let later = at + Duration::from_millis(1);
                        n.timer = Some(later);
                        self.queue.push(later, Item::Timer { node });
                    }
                }
            }
            Item::Signal { to, envelope } => {
                if self.transport.is_alive(to) {
                    at_nanos.hash(&mut self.trace);
                    (
                        b"signal",
                        to.0,
                        envelope.handshake.0,
                        envelope.signal.kind(),
                    )
                        .hash(&mut self.trace);
                    let now = self.now();
                    self.stats.engine_inputs += 1;
                    let span = tracing::debug_span!("peer", n = to.0);
                    if span
                        .in_scope(|| self.nodes[to.idx()].engine.handle_signal(now, envelope))
                        .is_err()
                    {
                        self.stats.signals_refused += 1;
                    }
                    self.after_input(to);
                }
            }
            Item::Consent { node, conn, epoch } => {
                if self.transport.consent_expired(&self.net, node, conn, epoch) {
                    self.feed(
                        node,
                        at_nanos,
                        TransportEvent::Closed {
                            conn,
                            reason: CloseReason::TimedOut,
                        },
                    );
                }
            }
            Item::HandshakeDeadline { node, conn } => {
                if self.transport.handshake_expired(node, conn) {
                    let reason = CloseReason::Failed("ICE failed: no connectivity".into());
                    self.feed(node, at_nanos, TransportEvent::Closed { conn, reason });
                }
            }
        }
        true
    }

    fn feed(&mut self, node: NodeId, at_nanos: u64, event: TransportEvent) {
        at_nanos.hash(&mut self.trace);
        node.0.hash(&mut self.trace);
        hash_event(&event, &mut self.trace);
        let now = self.now();
        self.stats.engine_inputs += 1;
        let span = tracing::debug_span!("peer", n = node.0);
        span.in_scope(|| {
            self.nodes[node.idx()]
                .engine
                .handle_transport_event(now, event)
        });
        self.after_input(node);
    }

    /// Run until virtual time `t` (from the start); the clock ends at `t`.
    pub fn run_until(&mut self, t: Duration) {
        while self.next_at().is_some_and(|at| at <= t) {
            self.step();
        }
        self.queue.advance_to(t);
    }

    /// Run for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.queue.now() + d;
        self.run_until(t);
    }

    /// Run until the network is quiet (see [`Sim::is_quiet`]), at most
    /// `limit` of virtual time; whether it got quiet.
    #[must_use = "false means the network was still busy when the limit came"]
    pub fn run_until_quiet(&mut self, limit: Duration) -> bool {
        let end = self.queue.now() + limit;
        while self.queue.has_activity() {
            match self.next_at() {
                Some(at) if at <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        !self.queue.has_activity()
    }

    /// Run until nothing at all is scheduled (every timer fired), at most
    /// `limit` of virtual time; whether the queue emptied.
    #[must_use = "false means timers were still queued when the limit came"]
    pub fn run_until_idle(&mut self, limit: Duration) -> bool {
        let end = self.queue.now() + limit;
        while let Some(at) = self.next_at() {
            if at > end {
                return false;
            }
            self.step();
        }
        true
    }

    /// Run until `op` completes (at most `limit`); its completion.
    #[must_use = "None means the operation had not completed when the limit came"]
    pub fn run_until_complete(&mut self, op: OpRef, limit: Duration) -> Option<Completion> {
        let end = self.queue.now() + limit;
        while !self.completions.contains_key(&op) {
            match self.next_at() {
                Some(at) if at <= end => {
                    self.step();
                }
                _ => break,
            }
        }
        self.completions.get(&op).cloned()
    }

    /// Check the global invariants (the network must be quiet). See
    /// [`super::invariant`].
    ///
    /// # Errors
    /// Every violation found.
    pub fn check_invariants(&self) -> Result<invariant::Report, InvariantError> {
        invariant::check(self)
    }

    // ----- internals -----------------------------------------------------

    fn trace_tag(&mut self, tag: &[u8], node: NodeId, x: u64) {
        (self.queue.now().as_nanos() as u64, tag, node.0, x).hash(&mut self.trace);
    }

    /// Route everything `node`'s engine produced, re-arm its timer.
    /// Local invariant violations seen after a step (with
    /// [`SimConfig::with_check_every_step`]), with their virtual time.
    pub fn local_violations(&self) -> &[(Duration, Violation)] {
        &self.local_violations
    }

    fn after_input(&mut self, node: NodeId) {
        if self.config.check_every_step {
            // After the outputs are routed (below), on the way out.
            self.drain_outputs(node);
            let found = invariant::local(self, node);
            let at = self.elapsed();
            self.local_violations
                .extend(found.into_iter().map(|v| (at, v)));
            return;
        }
        self.drain_outputs(node);
    }

    fn drain_outputs(&mut self, node: NodeId) {
        let idx = node.idx();
        while let Some(cmd) = self.nodes[idx].engine.poll_transport() {
            self.stats.commands += 1;
            hash_command(&cmd, &mut self.trace);
            self.transport
                .handle_command(&mut self.net, &mut self.queue, node, cmd);
        }
        while let Some(out) = self.nodes[idx].engine.poll_output() {
            self.stats.outputs += 1;
            hash_output(&out, &mut self.trace);
            self.route_output(node, &out);
            if let Some(hook) = self.output_hook.as_mut() {
                hook(node, &out);
            }
            if self.config.record_outputs {
                let t = self.queue.now();
                self.nodes[idx].outputs.push((t, out));
            }
        }
        let n = &mut self.nodes[idx];
        if !n.dirty {
            n.dirty = true;
            self.dirty.push(node);
        }
    }

    /// Ask every node that got input since the last call for its deadline
    /// (once, however many inputs it got) and re-arm its timer. Runs before
    /// the queue is read, so no deadline is missed; nodes without input are
    /// never asked.
    fn settle(&mut self) {
        while let Some(node) = self.dirty.pop() {
            let n = &mut self.nodes[node.idx()];
            n.dirty = false;
            self.stats.deadline_polls += 1;
            let deadline = n
                .engine
                .poll_timeout()
                .map(|t| t.saturating_duration_since(self.base));
            if let Some(d) = deadline {
                if n.timer != Some(d) {
                    n.timer = Some(d);
                    self.queue.push(d, Item::Timer { node });
                }
            } else {
                n.timer = None;
            }
        }
    }

    fn route_output(&mut self, node: NodeId, out: &Output) {
        match out {
            Output::Signal(env) => self.carry_signal(node, env.clone()),
            Output::HandshakeEnded { handshake }
                if self
                    .routes
                    .get(handshake)
                    .is_some_and(|r| r.initiator == node) =>
            {
                self.routes.remove(handshake);
            }
            Output::Completed(c) => {
                self.completions.insert(OpRef { node, op: c.op }, c.clone());
                self.completed.push_back((node, c.clone()));
            }
            Output::Event {
                event: Event::Message { .. },
                ..
            } => self.stats.messages_delivered += 1,
            _ => {}
        }
    }

    /// The simulated signaling server: carry an out-of-band signal.
    fn carry_signal(&mut self, node: NodeId, env: SignalEnvelope) {
        let delay = self.net.signaling_delay();
        let now = self.queue.now();
        let Some(route) = self.routes.get_mut(&env.handshake) else {
            self.stats.signals_unroutable += 1;
            return;
        };
        let (to, way) = if node == route.initiator {
            (route.acceptor, 0)
        } else {
            (route.initiator, 1)
        };
        let at = (now + delay).max(route.last[way]);
        route.last[way] = at;
        self.stats.signals_carried += 1;
        self.queue.push(at, Item::Signal { to, envelope: env });
    }
}

/// [`Sim::inject_frame`] found no connection to inject into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{node} has no connection with {peer} in the simulated transport")]
pub struct NoConnection {
    /// The node asked to receive.
    pub node: NodeId,
    /// The peer it was to come from.
    pub peer: NodeId,
}

fn hash_event(e: &TransportEvent, h: &mut DefaultHasher) {
    match e {
        TransportEvent::Signal { conn, signal } => {
            (1u8, conn.0, signal.kind(), signal.text_len()).hash(h)
        }
        TransportEvent::Opened { conn, .. } => (2u8, conn.0).hash(h),
        TransportEvent::Frame { conn, frame } => (3u8, conn.0, &frame[..]).hash(h),
        TransportEvent::Sent { conn, bytes } => (4u8, conn.0, *bytes).hash(h),
        TransportEvent::Closed { conn, reason } => (5u8, conn.0, reason.to_string()).hash(h),
    }
}

fn hash_command(c: &TransportCommand, h: &mut DefaultHasher) {
    match c {
        TransportCommand::Open { conn, role } => {
            (11u8, conn.0, *role == crate::transport::Role::Initiator).hash(h)
        }
        TransportCommand::Signal { conn, signal } => (12u8, conn.0, signal.kind()).hash(h),
        TransportCommand::Send { conn, frame } => (13u8, conn.0, frame.len()).hash(h),
        TransportCommand::Close { conn } => (14u8, conn.0).hash(h),
    }
}

fn hash_output(o: &Output, h: &mut DefaultHasher) {
    match o {
        Output::Event { protocol, event } => {
            (21u8, protocol.as_str()).hash(h);
            match event {
                Event::ArcOpened {
                    peer,
                    direction,
                    count,
                } => (1u8, peer.as_bytes(), *direction, *count).hash(h),
                Event::ArcClosed {
                    peer,
                    direction,
                    reason,
                    count,
                } => (2u8, peer.as_bytes(), *direction, reason.to_string(), *count).hash(h),
                Event::ConnectFailed { peer, reason } => {
                    (3u8, peer.map(|p| *p.as_bytes()), reason.to_string()).hash(h)
                }
                Event::Message { peer, payload } => (4u8, peer.as_bytes(), &payload[..]).hash(h),
            }
        }
        Output::Completed(c) => (
            22u8,
            c.op.0,
            c.result.is_ok(),
            c.remote.map(|p| *p.as_bytes()),
        )
            .hash(h),
        Output::Signal(env) => (23u8, env.handshake.0, env.signal.kind()).hash(h),
        Output::HandshakeEnded { handshake } => (24u8, handshake.0).hash(h),
        Output::Writable { peer } => (25u8, peer.as_bytes()).hash(h),
    }
}
