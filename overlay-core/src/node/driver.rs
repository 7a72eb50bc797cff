//! The node's task: runs the engine over a transport.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::mpsc;

use super::command::{Command, NodeStats, Query, Reply};
use super::feed::SendReply;
use crate::engine::Engine;
use crate::error::{ConnectError, SendError};
use crate::event::{Event, Output};
use crate::id::{ConnId, HandshakeId, OpId, PeerId, ProtocolId};
use crate::signal::SignalEnvelope;
use crate::transport::{CloseReason, Transport, TransportEvent};
use crate::wire::Frame;

/// Events buffered for a slow subscriber before the frames that would add
/// to its backlog are held back (per connection, in order).
const BACKLOG_HIGH_WATER: usize = 4096;
/// Payload bytes buffered for a slow subscriber before the frames that
/// would add to its backlog are held back.
const BACKLOG_BYTES_HIGH_WATER: usize = 4 * 1024 * 1024;

fn event_bytes(ev: &Event) -> usize {
    match ev {
        Event::Message { payload, .. } => payload.len(),
        _ => 0,
    }
}
/// Transport events handled per wake-up before looking at commands again.
const TRANSPORT_BATCH: usize = 64;
/// Commands handled per wake-up (every one already queued, up to this)
/// before the engine's output is flushed once and the transport gets its
/// turn.
const COMMAND_BATCH: usize = 64;

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

struct Subscriber {
    tx: mpsc::Sender<Event>,
    backlog: VecDeque<Event>,
    /// Payload bytes in `backlog`.
    backlog_bytes: usize,
}

impl Subscriber {
    fn push(&mut self, ev: Event) {
        self.backlog_bytes += event_bytes(&ev);
        self.backlog.push_back(ev);
    }
}

struct ParkedSend {
    protocol: ProtocolId,
    payload: Bytes,
    reply: SendReply,
}

type OpReply = Reply<Result<Option<PeerId>, ConnectError>>;

pub(crate) struct Driver<T: Transport> {
    engine: Engine,
    transport: T,
    commands: mpsc::Receiver<Command>,
    subs: BTreeMap<ProtocolId, Subscriber>,
    ops: BTreeMap<OpId, OpReply>,
    routes: BTreeMap<HandshakeId, mpsc::UnboundedSender<SignalEnvelope>>,
    parked: BTreeMap<PeerId, VecDeque<ParkedSend>>,
    /// Frames held back per connection (their protocol if they start a
    /// message) while the stream they feed is backlogged.
    held: BTreeMap<ConnId, VecDeque<(Option<ProtocolId>, Bytes)>>,
    held_bytes: usize,
    /// `NodeConfig::hold_limit`.
    hold_limit: usize,
    stats: NodeStats,
}

impl<T: Transport> Driver<T> {
    pub(crate) fn new(
        engine: Engine,
        transport: T,
        commands: mpsc::Receiver<Command>,
        hold_limit: usize,
    ) -> Self {
        Driver {
            engine,
            transport,
            commands,
            subs: BTreeMap::new(),
            ops: BTreeMap::new(),
            routes: BTreeMap::new(),
            parked: BTreeMap::new(),
            held: BTreeMap::new(),
            held_bytes: 0,
            hold_limit,
            stats: NodeStats::default(),
        }
    }

    pub(crate) async fn run(mut self) {
        tracing::debug!(peer = %self.engine.local_id(), "node started");
        let mut shutdown_reply = None;
        // One timer for the node's life, moved when the engine's deadline
        // moves (not a new timer entry per loop pass).
        let mut sleep = std::pin::pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        let mut armed: Option<Instant> = None;
        'run: loop {
            self.flush();
            let held = self.held_bytes;
            let reserve = self
                .subs
                .iter()
                .find(|(_, s)| !s.backlog.is_empty())
                .map(|(p, s)| (*p, s.tx.clone()));
            let deadline = self.engine.poll_timeout();
            if deadline != armed {
                if let Some(d) = deadline {
                    sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                }
                armed = deadline;
            }
            tokio::select! {
                biased;
                cmd = self.commands.recv() => {
                    // This command, then every one already queued (up to a
                    // batch): one flush for all of them, not one loop pass each.
                    let mut next = cmd;
                    let mut handled = 0;
                    loop {
                        match next {
                            Some(Command::Shutdown { reply }) => {
                                shutdown_reply = Some(reply);
                                break 'run;
                            }
                            Some(cmd) => self.handle_command(cmd),
                            None => break 'run,
                        }
                        handled += 1;
                        if handled == COMMAND_BATCH {
                            break;
                        }
                        match self.commands.try_recv() {
                            Ok(cmd) => next = Some(cmd),
                            Err(_) => break,
                        }
                    }
                    // A steady stream of commands must not starve the
                    // network (commands come first in this `select!`): what
                    // the transport has ready is handled too.
                    if self.held_bytes < self.hold_limit {
                        self.flush();
                        self.transport_batch(None);
                    }
                },
                () = &mut sleep, if armed.is_some() => {
                    armed = None;
                    self.engine.handle_timeout(now());
                }
                permit = async {
                    match &reserve {
                        Some((_, tx)) => tx.reserve().await.is_ok(),
                        None => std::future::pending().await,
                    }
                } => {
                    if let Some((p, _)) = reserve {
                        self.drain_backlog(p, permit);
                        self.release_held();
                    }
                },
                ev = poll_fn(|cx| self.transport.poll_event(cx)), if held < self.hold_limit => {
                    self.transport_batch(Some(ev));
                },
            }
        }
        self.engine.shutdown(now());
        self.flush();
        tracing::debug!(peer = %self.engine.local_id(), "node stopped");
        if let Some(reply) = shutdown_reply {
            let _ = reply.send(());
        }
    }

    /// `first` (an event just received, if any), then what else the
    /// transport has ready, up to a batch, without waiting.
    fn transport_batch(&mut self, first: Option<TransportEvent>) {
        let mut handled = 0;
        if let Some(ev) = first {
            self.on_transport_event(ev);
            handled = 1;
        }
        while handled < TRANSPORT_BATCH && self.held_bytes < self.hold_limit {
            match poll_fn(|cx| Poll::Ready(self.transport.poll_event(cx))).now_or_never() {
                Some(Poll::Ready(ev)) => self.on_transport_event(ev),
                _ => break,
            }
            handled += 1;
        }
    }

    /// A transport event: frames feeding a backlogged stream are held back
    /// (with every later frame of their connection, to keep its order);
    /// everything else goes to the engine at once, so a slow stream stalls
    /// neither timers nor other connections.
    fn on_transport_event(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Frame { conn, frame } => {
                let protocol = self.frame_protocol(&frame);
                let hold =
                    self.held.contains_key(&conn) || protocol.is_some_and(|p| self.backlogged(&p));
                if hold {
                    self.held_bytes += frame.len();
                    self.held
                        .entry(conn)
                        .or_default()
                        .push_back((protocol, frame));
                } else {
                    self.engine
                        .handle_transport_event(now(), TransportEvent::Frame { conn, frame });
                }
            }
            TransportEvent::Closed { conn, reason } => {
                // What arrived before the close goes first.
                if let Some(q) = self.held.remove(&conn) {
                    for (_, frame) in q {
                        self.held_bytes -= frame.len();
                        self.engine
                            .handle_transport_event(now(), TransportEvent::Frame { conn, frame });
                    }
                }
                self.engine
                    .handle_transport_event(now(), TransportEvent::Closed { conn, reason });
            }
            ev => self.engine.handle_transport_event(now(), ev),
        }
    }

    /// The protocol of a frame that starts a message.
    fn frame_protocol(&self, frame: &Bytes) -> Option<ProtocolId> {
        match Frame::decode(frame, self.engine.config().max_frame_size()) {
            Ok(Frame::Data { protocol, .. } | Frame::DataStart { protocol, .. }) => Some(protocol),
            _ => None,
        }
    }

    fn backlogged(&self, protocol: &ProtocolId) -> bool {
        self.subs.get(protocol).is_some_and(|s| {
            s.backlog.len() >= BACKLOG_HIGH_WATER || s.backlog_bytes >= BACKLOG_BYTES_HIGH_WATER
        })
    }

    /// Hand held frames to the engine while their streams have room.
    fn release_held(&mut self) {
        let conns: Vec<ConnId> = self.held.keys().copied().collect();
        for conn in conns {
            loop {
                let next = self
                    .held
                    .get(&conn)
                    .and_then(|q| q.front().map(|(p, _)| *p));
                match next {
                    Some(Some(p)) if self.backlogged(&p) => break,
                    Some(_) => {}
                    None => break,
                }
                let Some((_, frame)) = self.held.get_mut(&conn).and_then(VecDeque::pop_front)
                else {
                    break;
                };
                self.held_bytes -= frame.len();
                self.engine
                    .handle_transport_event(now(), TransportEvent::Frame { conn, frame });
                self.flush();
            }
            if self.held.get(&conn).is_some_and(VecDeque::is_empty) {
                self.held.remove(&conn);
            }
        }
    }

    /// Sends waiting for room on a connection that is gone fail at once.
    fn release_parked(&mut self) {
        let gone: Vec<PeerId> = self
            .parked
            .keys()
            .filter(|p| {
                !self
                    .engine
                    .connection_state(p)
                    .is_some_and(|s| s.is_established())
            })
            .copied()
            .collect();
        for peer in gone {
            for p in self.parked.remove(&peer).unwrap_or_default() {
                p.reply.send(Err(SendError::NotNeighbour {
                    peer,
                    protocol: p.protocol,
                }));
            }
        }
    }

    /// Move engine outputs to the transport and to the application.
    fn flush(&mut self) {
        let mut commanded = false;
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.engine.poll_transport() {
                progressed = true;
                commanded = true;
                let conn = cmd.conn();
                if let Err(e) = self.transport.handle_command(now(), cmd) {
                    tracing::debug!(%conn, error = %e, "transport refused a command: closing the connection");
                    self.stats.transport_errors += 1;
                    let reason = CloseReason::Failed(e.to_string());
                    self.engine
                        .handle_transport_event(now(), TransportEvent::Closed { conn, reason });
                }
            }
            while let Some(out) = self.engine.poll_output() {
                progressed = true;
                self.handle_output(out);
            }
            if !progressed {
                break;
            }
        }
        if commanded {
            self.transport.flush();
        }
        if !self.parked.is_empty() {
            self.release_parked();
        }
    }

    fn handle_output(&mut self, out: Output) {
        match out {
            Output::Event { protocol, event } => self.deliver(protocol, event),
            Output::Completed(c) => {
                if let Some(reply) = self.ops.remove(&c.op) {
                    let _ = reply.send(c.result.map(|()| c.remote).map_err(ConnectError::Failed));
                }
            }
            Output::Signal(env) => match self.routes.get(&env.handshake) {
                Some(tx) if tx.send(env).is_ok() => {}
                _ => {
                    self.stats.unrouted_signals += 1;
                    tracing::debug!("out-of-band signal with no route: dropped");
                }
            },
            Output::HandshakeEnded { handshake } => {
                self.routes.remove(&handshake);
            }
            Output::Writable { peer } => self.unpark(peer),
        }
    }

    fn deliver(&mut self, protocol: ProtocolId, event: Event) {
        let Some(sub) = self.subs.get_mut(&protocol) else {
            self.stats.unrouted_events += 1;
            return;
        };
        if !sub.backlog.is_empty() {
            sub.push(event);
            return;
        }
        match sub.tx.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => sub.push(ev),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(%protocol, "event stream dropped: protocol unregistered");
                self.subs.remove(&protocol);
                self.stats.unrouted_events += 1;
            }
        }
    }

    fn drain_backlog(&mut self, protocol: ProtocolId, open: bool) {
        if !open {
            self.subs.remove(&protocol);
            return;
        }
        let Some(sub) = self.subs.get_mut(&protocol) else {
            return;
        };
        while let Some(ev) = sub.backlog.pop_front() {
            let len = event_bytes(&ev);
            match sub.tx.try_send(ev) {
                Ok(()) => sub.backlog_bytes -= len,
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    sub.backlog.push_front(ev);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.subs.remove(&protocol);
                    break;
                }
            }
        }
    }

    fn unpark(&mut self, peer: PeerId) {
        let Some(queue) = self.parked.get_mut(&peer) else {
            return;
        };
        while let Some(p) = queue.front() {
            if !self.engine.can_send(&peer, p.payload.len()) {
                return;
            }
            let Some(p) = queue.pop_front() else { break };
            let r = self.engine.send(now(), p.protocol, peer, p.payload);
            p.reply.send(r);
        }
        self.parked.remove(&peer);
    }

    fn handle_command(&mut self, cmd: Command) {
        let t = now();
        match cmd {
            Command::Register {
                protocol,
                events,
                reply,
            } => {
                let taken = self.subs.get(&protocol).is_some_and(|s| !s.tx.is_closed());
                if !taken {
                    self.subs.insert(
                        protocol,
                        Subscriber {
                            tx: events,
                            backlog: VecDeque::new(),
                            backlog_bytes: 0,
                        },
                    );
                }
                let _ = reply.send(!taken);
            }
            Command::Connect {
                protocol,
                from,
                to,
                reply,
            } => match self.engine.connect(t, protocol, &from, &to) {
                Ok(op) => {
                    self.ops.insert(op, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(e));
                }
            },
            Command::ConnectOutOfBand {
                protocol,
                count,
                signals,
                started,
                done,
            } => match self.engine.connect_out_of_band(t, protocol, count) {
                Ok((op, h)) => {
                    self.routes.insert(h, signals);
                    self.ops.insert(op, done);
                    let _ = started.send(Ok(h));
                }
                Err(e) => {
                    let _ = started.send(Err(e));
                }
            },
            Command::AcceptOutOfBand {
                envelope,
                signals,
                reply,
            } => {
                let h = envelope.handshake;
                self.routes.insert(h, signals);
                let r = self.engine.handle_signal(t, *envelope);
                if r.is_err() {
                    self.routes.remove(&h);
                }
                let _ = reply.send(r);
            }
            Command::Signal { envelope, reply } => {
                let _ = reply.send(self.engine.handle_signal(t, *envelope));
            }
            Command::Send {
                protocol,
                peer,
                payload,
                wait,
                reply,
            } => {
                if wait && self.parked.contains_key(&peer) {
                    // Keep order behind earlier waiting sends.
                    self.parked.entry(peer).or_default().push_back(ParkedSend {
                        protocol,
                        payload,
                        reply,
                    });
                    return;
                }
                match self.engine.send(t, protocol, peer, payload.clone()) {
                    Err(SendError::Full(_)) if wait => {
                        self.parked.entry(peer).or_default().push_back(ParkedSend {
                            protocol,
                            payload,
                            reply,
                        });
                    }
                    r => reply.send(r),
                }
            }
            Command::Disconnect {
                protocol,
                peer,
                reply,
            } => {
                let _ = reply.send(self.engine.disconnect(t, protocol, peer));
            }
            Command::DisconnectAll { protocol, reply } => {
                let _ = reply.send(self.engine.disconnect_all(t, protocol));
            }
            Command::Pin {
                protocol,
                peer,
                pin,
                reply,
            } => {
                let r = if pin {
                    self.engine.pin(protocol, peer)
                } else {
                    self.engine.unpin(protocol, peer)
                };
                let _ = reply.send(r);
            }
            Command::Query(q) => self.query(q),
            Command::Shutdown { reply } => {
                let _ = reply.send(());
            }
        }
    }

    fn query(&mut self, q: Query) {
        match q {
            Query::Inview(p, r) => {
                let _ = r.send(self.engine.inview(&p));
            }
            Query::Outview(p, r) => {
                let _ = r.send(self.engine.outview(&p));
            }
            Query::Neighbours(r) => {
                let _ = r.send(self.engine.neighbours());
            }
            Query::Connections(r) => {
                let mut conns = self.engine.connections();
                for c in &mut conns {
                    c.rtt = self.transport.rtt(c.conn);
                }
                let _ = r.send(conns);
            }
            Query::Stats(r) => {
                let _ = r.send(NodeStats {
                    engine: self.engine.stats(),
                    ..self.stats
                });
            }
        }
    }
}
