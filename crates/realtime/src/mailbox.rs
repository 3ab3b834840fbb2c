//! A connection's mailbox: what the hub has for one socket, and the socket itself. Text for an
//! idle socket is written from the hub's own task (one pre-framed buffer shared by every
//! socket of a broadcast, one `send` each); what the kernel does not take waits here, in
//! order, for the connection's task to flush. A TCP socket lives inside the mailbox, so the
//! hub's write to it touches this one allocation.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes, BytesMut};
use rustix::net::{SendFlags, Shutdown};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::Outbound;

/// The one `Tick` every mailbox hands out.
static TICK: LazyLock<Arc<Outbound>> = LazyLock::new(|| Arc::new(Outbound::Tick));

/// The write half of a socket that is not a TCP stream (`Receiver::attach`).
pub type Wire = Box<dyn AsyncWrite + Send + Unpin>;

/// A WebSocket text frame as a server sends it (final, unmasked, RFC 6455 §5.2): the header,
/// then `payload`.
pub fn text_frame(payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut frame = BytesMut::with_capacity(len + 10);
    frame.extend_from_slice(&[0x81]);
    if len < 126 {
        frame.extend_from_slice(&[len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        frame.extend_from_slice(&[126]);
        frame.extend_from_slice(&short.to_be_bytes());
    } else {
        frame.extend_from_slice(&[127]);
        frame.extend_from_slice(&(len as u64).to_be_bytes());
    }
    frame.extend_from_slice(payload);
    frame.freeze()
}

/// A connection's queue. An idle connection holds only this (no slots: the deques allocate on
/// first use, and give a burst's slots back once drained), where a tokio `mpsc` channel
/// allocates a block of 32 slots and cache-padded state up front, about 1 KB per socket. The
/// waiting task's waker sits in the same lock: no separate notifier, and the receiving future
/// is one pointer.
#[derive(Debug)]
pub(crate) struct Mailbox {
    queue: Mutex<Queue>,
    /// The socket, when it is a TCP stream (`Receiver::attach_tcp`): here rather than behind
    /// pointers of its own (a split stream's `Arc`, a boxed half), so a broadcast's write to it
    /// touches the cache lines it already touched for the queue. Written only under `queue`'s
    /// lock (frames stay whole and in order); read by the connection's task without it.
    tcp: OnceLock<TcpStream>,
    capacity: usize,
}

#[derive(Default)]
pub(crate) struct Queue {
    pub(crate) items: VecDeque<Arc<Outbound>>,
    /// The ticker's turn came; handed out as `Outbound::Tick` after what is queued.
    tick: bool,
    /// The hub dropped the connection, or its receiver is gone.
    closed: bool,
    /// The task holds an item it took and may still be writing it: text that comes meanwhile
    /// waits in `items`, so it cannot overtake it.
    busy: bool,
    /// A write failed: the connection is over.
    broken: bool,
    /// The receiving task, while it waits.
    waker: Option<Waker>,
    /// The socket, once attached, when it is not a TCP stream (that one is `Mailbox::tcp`).
    wire: Option<Wire>,
    /// Bytes the socket has not taken yet, in order (the front one may be partly written).
    pub(crate) unsent: VecDeque<Bytes>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("items", &self.items.len())
            .field("unsent", &self.unsent.len())
            .field("closed", &self.closed)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Offers `buf` to the socket now; returns how much of it the socket took (0 if it is
    /// full, with `cx`'s waker registered for when it has room).
    fn write_now(
        &mut self,
        tcp: Option<&TcpStream>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> io::Result<usize> {
        match poll_write(tcp, self.wire.as_mut(), cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(result) => result,
            Poll::Pending => Ok(0),
        }
    }

    /// `write_now` from the hub's task, which writes to thousands of sockets in one poll and
    /// registers no waker (if the socket is full, the connection's task is woken and waits for
    /// it with its own). A TCP socket gets one `send(2)`: tokio's readiness cache is neither
    /// consulted nor needed (a full socket answers `EAGAIN`, and the task's write then learns
    /// it itself), and no cooperative budget applies (it would refuse every write after the
    /// 128th). Any other stream is polled outside that budget.
    fn write_from_hub(&mut self, tcp: Option<&TcpStream>, frame: &[u8]) -> io::Result<usize> {
        if let Some(tcp) = tcp {
            return match rustix::net::send(tcp, frame, SendFlags::NOSIGNAL) {
                Ok(0) if !frame.is_empty() => Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => Ok(n),
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => Ok(0),
                Err(e) => Err(e.into()),
            };
        }
        let mut write = tokio::task::unconstrained(std::future::poll_fn(|cx| {
            Poll::Ready(self.write_now(None, cx, frame))
        }));
        match Pin::new(&mut write).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(written) => written,
            Poll::Pending => Ok(0),
        }
    }

    /// Writes what is queued, in order; ready once all of it went. Waits (with `cx`'s waker
    /// registered for the socket) while the kernel's buffer is full.
    fn flush(&mut self, tcp: Option<&TcpStream>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if tcp.is_none() && self.wire.is_none() {
            return Poll::Ready(Ok(()));
        }
        while let Some(front) = self.unsent.front_mut() {
            match poll_write(tcp, self.wire.as_mut(), cx, front) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) if n == front.len() => {
                    self.unsent.pop_front();
                }
                Poll::Ready(Ok(n)) => front.advance(n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.unsent.capacity() > 8 {
            self.unsent = VecDeque::new();
        }
        match self.wire.as_mut() {
            Some(wire) => Pin::new(wire).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    /// `flush`, with a failure recorded: the connection is then over.
    fn flush_or_break(
        &mut self,
        tcp: Option<&TcpStream>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let flushed = self.flush(tcp, cx);
        if let Poll::Ready(Err(_)) = flushed {
            self.broken = true;
        }
        flushed
    }
}

/// One write to the socket: the TCP stream when there is one, else the attached write half.
fn poll_write(
    tcp: Option<&TcpStream>,
    wire: Option<&mut Wire>,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    match (tcp, wire) {
        (Some(tcp), _) => loop {
            ready!(tcp.poll_write_ready(cx))?;
            match tcp.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                written => return Poll::Ready(written),
            }
        },
        (None, Some(wire)) => Pin::new(wire).poll_write(cx, buf),
        (None, None) => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
    }
}

impl Mailbox {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Changes the queue, then wakes the receiver (outside the lock) if it waits.
    fn update(&self, change: impl FnOnce(&mut Queue) -> bool) -> bool {
        let waker = {
            let mut queue = self.lock();
            if !change(&mut queue) {
                return false;
            }
            queue.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

pub(crate) fn mailbox(capacity: usize) -> (Sender, Receiver) {
    let mailbox = Arc::new(Mailbox {
        queue: Mutex::default(),
        tcp: OnceLock::new(),
        capacity,
    });
    (Sender(mailbox.clone()), Receiver(mailbox))
}

pub(crate) enum Offered {
    Queued,
    Full,
    Closed,
}

/// The hub's end; dropping it (the connection left the hub) ends the receiver once drained.
#[derive(Debug)]
pub(crate) struct Sender(Arc<Mailbox>);

impl Sender {
    /// The mailbox, for writing to it without holding the hub's lock.
    pub(crate) fn mailbox(&self) -> Arc<Mailbox> {
        self.0.clone()
    }

    /// Raises the tick flag (no allocation); false if the receiver is gone.
    pub(crate) fn tick(&self) -> bool {
        self.0.update(|queue| {
            queue.tick = !queue.closed;
            queue.tick
        })
    }
}

impl Mailbox {
    /// Hands `message` to the connection. Text (`frame` is its WebSocket frame) for an idle
    /// socket is written right here, without waking the connection's task; otherwise it is
    /// queued behind what is waiting. More than the capacity waiting: `Full`.
    pub(crate) fn offer(&self, message: &Arc<Outbound>, frame: Option<&Bytes>) -> Offered {
        let mut outcome = Offered::Closed;
        let tcp = self.tcp.get();
        self.update(|queue| {
            if queue.closed || queue.broken {
                return false;
            }
            // Text goes to the wire directly when the task is not writing and nothing is
            // queued ahead of it as a message.
            let wired = frame.filter(|_| {
                (tcp.is_some() || queue.wire.is_some()) && !queue.busy && queue.items.is_empty()
            });
            if let Some(frame) = wired
                && queue.unsent.is_empty()
            {
                match queue.write_from_hub(tcp, frame) {
                    Ok(n) if n == frame.len() => {
                        outcome = Offered::Queued;
                        return false;
                    }
                    Ok(n) => {
                        queue.unsent.push_back(frame.slice(n..));
                        outcome = Offered::Queued;
                    }
                    Err(_) => queue.broken = true,
                }
                return true;
            }
            if queue.items.len() + queue.unsent.len() >= self.capacity {
                outcome = Offered::Full;
                return false;
            }
            outcome = Offered::Queued;
            match wired {
                // Behind bytes already unsent: the task already knows there is something to
                // flush.
                Some(frame) => {
                    queue.unsent.push_back(frame.clone());
                    false
                }
                None => {
                    queue.items.push_back(message.clone());
                    true
                }
            }
        });
        outcome
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.update(|queue| {
            queue.closed = true;
            true
        });
    }
}

/// The connection task's end: messages in order, then `None` once the hub dropped it.
#[derive(Debug)]
pub struct Receiver(pub(crate) Arc<Mailbox>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    Empty,
    Disconnected,
}

impl Receiver {
    pub fn try_recv(&mut self) -> Result<Arc<Outbound>, TryRecvError> {
        Self::take(&mut self.0.lock())
    }

    fn take(queue: &mut Queue) -> Result<Arc<Outbound>, TryRecvError> {
        match queue.items.pop_front() {
            Some(message) => {
                // Give a burst's slots back once drained: idle sockets keep none.
                if queue.items.is_empty() && queue.items.capacity() > 8 {
                    queue.items = VecDeque::new();
                }
                Ok(message)
            }
            None if queue.closed || queue.broken => Err(TryRecvError::Disconnected),
            None if std::mem::take(&mut queue.tick) => Ok(TICK.clone()),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Hands a TCP socket to the mailbox: from now on text is written by whoever has it (the
    /// hub, or this task in `poll_recv`), the task writes its own frames through `writer()`
    /// (every frame goes out whole and in order), and reads through the returned `Reader`.
    /// A second socket is refused (returned).
    pub fn attach_tcp(&mut self, stream: TcpStream) -> Result<Reader, TcpStream> {
        let _attached = self.0.lock();
        self.0.tcp.set(stream)?;
        Ok(Reader(self.0.clone()))
    }

    /// `attach_tcp` for any other stream: its write half (the task keeps the read half).
    pub fn attach(&mut self, wire: Wire) {
        self.0.lock().wire = Some(wire);
    }

    /// The socket's write side for the connection's own frames (replies, pings, replays):
    /// queued behind what the hub left unsent.
    pub fn writer(&self) -> Writer {
        Writer(self.0.clone())
    }

    /// The next message for the task; text is written to an attached socket here, not
    /// handed out. Also writes what the socket did not take yet. When nothing is queued,
    /// registers `cx`'s waker to be woken for a message. `None` once the hub dropped the
    /// connection (what was still unsent is given up) or the socket failed.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Outbound>>> {
        self.poll_next(cx, true)
    }

    /// `poll_recv`, except that while `held` queued messages wait (text for the socket is
    /// still written) and only `None` (the hub dropped the connection, or the socket failed)
    /// is handed out.
    pub fn poll_recv_unless(
        &mut self,
        cx: &mut Context<'_>,
        held: bool,
    ) -> Poll<Option<Arc<Outbound>>> {
        self.poll_next(cx, !held)
    }

    fn poll_next(&mut self, cx: &mut Context<'_>, deliver: bool) -> Poll<Option<Arc<Outbound>>> {
        let tcp = self.0.tcp.get();
        let mut queue = self.0.lock();
        let attached = tcp.is_some() || queue.wire.is_some();
        queue.busy = false;
        if queue.broken || (!deliver && queue.closed) {
            return Poll::Ready(None);
        }
        let mut next = None;
        if deliver {
            loop {
                match Self::take(&mut queue) {
                    Ok(message) => match &*message {
                        Outbound::Text(text) if attached => {
                            queue.unsent.push_back(text_frame(text));
                        }
                        _ => {
                            next = Some(message);
                            break;
                        }
                    },
                    Err(TryRecvError::Disconnected) => return Poll::Ready(None),
                    Err(TryRecvError::Empty) => break,
                }
            }
        }
        if queue.flush_or_break(tcp, cx).is_ready() && queue.broken {
            return Poll::Ready(None);
        }
        if let Some(message) = next {
            queue.busy = true;
            return Poll::Ready(Some(message));
        }
        match &mut queue.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub fn recv(&mut self) -> impl Future<Output = Option<Arc<Outbound>>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }

    pub fn recv_unless(&mut self, held: bool) -> impl Future<Output = Option<Arc<Outbound>>> + '_ {
        std::future::poll_fn(move |cx| self.poll_recv_unless(cx, held))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        queue.items.clear();
        queue.unsent.clear();
        queue.waker = None;
        queue.wire = None;
        // The connection is over: its peer hears so now (as when a write half is dropped),
        // even if a broadcast in flight still holds the mailbox and so the socket.
        if let Some(tcp) = self.0.tcp.get() {
            let _ = rustix::net::shutdown(tcp, Shutdown::Write);
        }
    }
}

/// A TCP socket's read side (`Receiver::attach_tcp`): reads the stream the mailbox holds,
/// without its lock (the hub's writes go on meanwhile).
#[derive(Debug)]
pub struct Reader(Arc<Mailbox>);

impl AsyncRead for Reader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let Some(tcp) = self.0.tcp.get() else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        loop {
            ready!(tcp.poll_read_ready(cx))?;
            match tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// The connection task's own writes (`Receiver::writer`), as `AsyncWrite` for a WebSocket
/// library: every call takes the whole buffer (whole frames, never interleaved with the
/// hub's), behind what the socket has not taken yet; `poll_flush` waits until all of it went.
#[derive(Debug)]
pub struct Writer(Arc<Mailbox>);

impl AsyncWrite for Writer {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let tcp = self.0.tcp.get();
        let mut queue = self.0.lock();
        if queue.broken || (tcp.is_none() && queue.wire.is_none()) {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Poll::Ready(Err(e)) = queue.flush_or_break(tcp, cx) {
            return Poll::Ready(Err(e));
        }
        let written = match queue.unsent.is_empty() {
            true => match queue.write_now(tcp, cx, buf) {
                Ok(n) => n,
                Err(e) => {
                    queue.broken = true;
                    return Poll::Ready(Err(e));
                }
            },
            false => 0,
        };
        if written < buf.len() {
            queue
                .unsent
                .push_back(Bytes::copy_from_slice(&buf[written..]));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tcp = self.0.tcp.get();
        self.0.lock().flush_or_break(tcp, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let tcp = self.0.tcp.get();
        let mut queue = self.0.lock();
        ready!(queue.flush_or_break(tcp, cx))?;
        match (tcp, queue.wire.as_mut()) {
            (Some(tcp), _) => {
                Poll::Ready(rustix::net::shutdown(tcp, Shutdown::Write).map_err(Into::into))
            }
            (None, Some(wire)) => Pin::new(wire).poll_shutdown(cx),
            (None, None) => Poll::Ready(Ok(())),
        }
    }
}
