//! The custom webrtc-rs [`Runtime`] that removes the 600 ms setup stall,
//! sizes the socket buffers and puts [`HoldingSocket`] in front of each
//! connection's socket. See the crate docs for the why.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;

use crate::early::{EarlyPackets, HoldingSocket};
use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

thread_local! {
    /// The [`DriverWake::id`] of the driver task this thread is polling right
    /// now, or 0.
    static POLLING_DRIVER: Cell<u64> = const { Cell::new(0) };
}

static NEXT_DRIVER_ID: AtomicU64 = AtomicU64::new(1);

/// Per-connection wake-up state shared by the driver's timers and the
/// connection task.
#[derive(Debug)]
pub(crate) struct DriverWake {
    /// Nonzero, unique per connection.
    id: u64,
    /// The next driver sleep completes at once (a "flush" pass).
    flush_next: AtomicBool,
    /// Wakes the driver's current sleep (or, stored as a permit, the next one).
    nudge: Notify,
    /// Flush passes and nudges so far (diagnostics).
    flushes: AtomicU64,
    nudges: AtomicU64,
    /// Stops the driver task without its close path (a crash).
    abort: std::sync::Mutex<Option<futures::future::AbortHandle>>,
}

impl DriverWake {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(DriverWake {
            id: NEXT_DRIVER_ID.fetch_add(1, Ordering::Relaxed),
            flush_next: AtomicBool::new(false),
            nudge: Notify::new(),
            flushes: AtomicU64::new(0),
            nudges: AtomicU64::new(0),
            abort: std::sync::Mutex::new(None),
        })
    }

    /// Make the driver run one more loop pass now (after an API call that
    /// changed the core's state without waking the driver, such as
    /// `add_ice_candidate`). If the driver is not asleep, its next sleep
    /// returns at once.
    pub(crate) fn nudge(&self) {
        self.nudges.fetch_add(1, Ordering::Relaxed);
        self.nudge.notify_one();
    }

    /// (flush passes, nudges) so far.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.flushes.load(Ordering::Relaxed),
            self.nudges.load(Ordering::Relaxed),
        )
    }

    /// Stop the driver task where it is: no close, no goodbye; its
    /// sockets close with it.
    pub(crate) fn abort_driver(&self) {
        if let Some(h) = self.abort.lock().ok().and_then(|mut a| a.take()) {
            h.abort();
        }
    }

    /// `future`, abortable by [`DriverWake::abort_driver`].
    fn abortable(&self, future: BoxFuture<'static, ()>) -> BoxFuture<'static, ()> {
        let (future, handle) = futures::future::abortable(future);
        if let Ok(mut slot) = self.abort.lock() {
            *slot = Some(handle);
        }
        Box::pin(async move {
            let _ = future.await;
        })
    }

    fn is_polling(&self) -> bool {
        POLLING_DRIVER.with(|p| p.get()) == self.id
    }

    /// The driver loop's timer for `duration`.
    fn driver_sleep(self: &Arc<Self>, duration: Duration) -> BoxFuture<'static, ()> {
        if self.flush_next.swap(false, Ordering::AcqRel) {
            self.flushes.fetch_add(1, Ordering::Relaxed);
            return Box::pin(FlushSleep {
                wake: Arc::clone(self),
                done: false,
            });
        }
        // Whatever ends this sleep (its deadline, a packet, an application
        // event), the pass that follows may leave output queued by the events
        // it pumps: give the driver one more pass right after it.
        self.flush_next.store(true, Ordering::Release);
        let wake = Arc::clone(self);
        Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep(duration) => {}
                () = wake.nudge.notified() => {}
            }
        })
    }
}

/// A driver timer that is due at once: one extra pass of the driver loop,
/// which sends what the previous pass queued. If the driver's `select!` took
/// another branch instead, the pass still happened but may have queued new
/// output, so the flush is owed again.
struct FlushSleep {
    wake: Arc<DriverWake>,
    done: bool,
}

impl Future for FlushSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        self.done = true;
        Poll::Ready(())
    }
}

impl Drop for FlushSleep {
    fn drop(&mut self) {
        if !self.done {
            self.wake.flush_next.store(true, Ordering::Release);
        }
    }
}

/// Marks the thread as polling driver `id` for the duration of each poll, so
/// [`NudgeRuntime::sleep`] can tell the driver's loop timer from other sleeps
/// (the data channel's send back-pressure backstop, `close()`'s timeout).
struct MarkedDriver {
    id: u64,
    future: BoxFuture<'static, ()>,
}

impl Future for MarkedDriver {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        struct Restore(u64);
        impl Drop for Restore {
            fn drop(&mut self) {
                POLLING_DRIVER.with(|p| p.set(self.0));
            }
        }
        let _restore = Restore(POLLING_DRIVER.with(|p| p.replace(self.id)));
        self.future.as_mut().poll(cx)
    }
}

/// webrtc-rs runtime for one connection: tokio, plus the driver wake-ups
/// and socket buffer sizes.
#[derive(Debug)]
pub(crate) struct NudgeRuntime {
    inner: TokioRuntime,
    wake: Arc<DriverWake>,
    recv_buffer_bytes: usize,
    send_buffer_bytes: usize,
    /// Whether the driver wake-ups are on (off only to measure the stall).
    fix_stall: bool,
    /// Holds the datagrams that come before the library can use them.
    early: Arc<EarlyPackets>,
}

impl NudgeRuntime {
    pub(crate) fn new(
        wake: Arc<DriverWake>,
        recv_buffer_bytes: usize,
        send_buffer_bytes: usize,
        fix_stall: bool,
        early: Arc<EarlyPackets>,
    ) -> Self {
        NudgeRuntime {
            inner: TokioRuntime,
            wake,
            recv_buffer_bytes,
            send_buffer_bytes,
            fix_stall,
            early,
        }
    }
}

impl Runtime for NudgeRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        // The only task webrtc-rs spawns for a UDP-only connection is its driver.
        self.inner.spawn(Box::pin(MarkedDriver {
            id: self.wake.id,
            future: self.wake.abortable(future),
        }))
    }

    fn spawn_reactor(
        &self,
        pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(
            pool_size,
            Box::pin(MarkedDriver {
                id: self.wake.id,
                future: self.wake.abortable(future),
            }),
        )
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        let sock = socket2::SockRef::from(&socket);
        if self.recv_buffer_bytes > 0 {
            if let Err(err) = sock.set_recv_buffer_size(self.recv_buffer_bytes) {
                tracing::warn!(%err, bytes = self.recv_buffer_bytes, "could not set the UDP receive buffer size");
            }
        }
        if self.send_buffer_bytes > 0 {
            if let Err(err) = sock.set_send_buffer_size(self.send_buffer_bytes) {
                tracing::warn!(%err, bytes = self.send_buffer_bytes, "could not set the UDP send buffer size");
            }
        }
        let inner = self.inner.wrap_udp_socket(socket)?;
        Ok(Arc::new(HoldingSocket::new(inner, Arc::clone(&self.early))))
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        if self.fix_stall && self.wake.is_polling() {
            self.wake.driver_sleep(duration)
        } else {
            self.inner.sleep(duration)
        }
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "n2n-tokio"
    }
}
