//! A connection's mailbox: what the hub has for one socket, and the socket's write side. Text
//! for an idle socket is written from the hub's own task (one pre-framed buffer shared by
//! every socket of a broadcast, one non-blocking write each); what the kernel does not take
//! waits here, in order, for the connection's task to flush.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWrite;

use crate::Outbound;

/// The one `Tick` every mailbox hands out.
static TICK: LazyLock<Arc<Outbound>> = LazyLock::new(|| Arc::new(Outbound::Tick));

/// A socket's write half, once the connection's task hands it over (`Receiver::attach`).
pub type Wire = Box<dyn WireWrite>;

/// A socket's write half: `AsyncWrite`, and a plain non-blocking write where the socket has
/// one (a TCP stream's `try_write`: no waker, no cooperative budget, one readiness check).
pub trait WireWrite: AsyncWrite + Send + Unpin {
    /// `None` where there is no such write; then `poll_write` is used.
    fn try_write(&self, _buf: &[u8]) -> Option<io::Result<usize>> {
        None
    }
}

impl WireWrite for tokio::net::tcp::OwnedWriteHalf {
    fn try_write(&self, buf: &[u8]) -> Option<io::Result<usize>> {
        Some(tokio::net::tcp::OwnedWriteHalf::try_write(self, buf))
    }
}

impl<T: AsyncWrite + Send> WireWrite for tokio::io::WriteHalf<T> {}

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
    /// The socket, once attached.
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
    /// full).
    fn write_now(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> io::Result<usize> {
        let Some(wire) = self.wire.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        match Pin::new(wire).poll_write(cx, buf) {
            Poll::Ready(Ok(0)) if !buf.is_empty() => Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => Ok(n),
            Poll::Pending => Ok(0),
            Poll::Ready(Err(e)) => Err(e),
        }
    }

    /// `write_now` from the hub's task, which writes to thousands of sockets in one poll: a
    /// plain non-blocking write where the socket has one; otherwise outside tokio's
    /// cooperative budget (which would turn every write after the 128th into
    /// "not ready"), and with no waker to register (if the socket is full, the connection's
    /// task is woken and waits for it with its own).
    fn write_from_hub(&mut self, frame: &[u8]) -> io::Result<usize> {
        if let Some(written) = self.wire.as_ref().and_then(|wire| wire.try_write(frame)) {
            return match written {
                Ok(0) if !frame.is_empty() => Err(io::ErrorKind::WriteZero.into()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                written => written,
            };
        }
        let mut write = tokio::task::unconstrained(std::future::poll_fn(|cx| {
            Poll::Ready(self.write_now(cx, frame))
        }));
        match Pin::new(&mut write).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(written) => written,
            Poll::Pending => Ok(0),
        }
    }

    /// Writes what is queued, in order; ready once all of it went. Waits (with `cx`'s waker
    /// registered for the socket) while the kernel's buffer is full.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(wire) = self.wire.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while let Some(front) = self.unsent.front_mut() {
            match Pin::new(&mut *wire).poll_write(cx, front) {
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
        Pin::new(wire).poll_flush(cx)
    }

    /// `flush`, with a failure recorded: the connection is then over.
    fn flush_or_break(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = self.flush(cx);
        if let Poll::Ready(Err(_)) = flushed {
            self.broken = true;
        }
        flushed
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
        self.update(|queue| {
            if queue.closed || queue.broken {
                return false;
            }
            let backlog = queue.items.len() + queue.unsent.len();
            if let Some(frame) = frame
                && queue.wire.is_some()
                && !queue.busy
                && queue.items.is_empty()
            {
                if queue.unsent.is_empty() {
                    let written = queue.write_from_hub(frame);
                    match written {
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
                if backlog >= self.capacity {
                    outcome = Offered::Full;
                    return false;
                }
                // The task already knows there is something to flush.
                queue.unsent.push_back(frame.clone());
                outcome = Offered::Queued;
                return false;
            }
            if backlog >= self.capacity {
                outcome = Offered::Full;
                return false;
            }
            queue.items.push_back(message.clone());
            outcome = Offered::Queued;
            true
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

    /// Hands the socket's write half to the mailbox: from now on text is written by whoever
    /// has it (the hub, or this task in `poll_recv`), and the task writes its own frames
    /// through `writer()`, so every frame goes out whole and in order.
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
        let mut queue = self.0.lock();
        queue.busy = false;
        if queue.broken || (!deliver && queue.closed) {
            return Poll::Ready(None);
        }
        let mut next = None;
        if deliver {
            loop {
                match Self::take(&mut queue) {
                    Ok(message) => match &*message {
                        Outbound::Text(text) if queue.wire.is_some() => {
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
        if queue.flush_or_break(cx).is_ready() && queue.broken {
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
        let mut queue = self.0.lock();
        if queue.broken || queue.wire.is_none() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if let Poll::Ready(Err(e)) = queue.flush_or_break(cx) {
            return Poll::Ready(Err(e));
        }
        let written = match queue.unsent.is_empty() {
            true => match queue.write_now(cx, buf) {
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
        self.0.lock().flush_or_break(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut queue = self.0.lock();
        std::task::ready!(queue.flush_or_break(cx))?;
        match queue.wire.as_mut() {
            Some(wire) => Pin::new(wire).poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}
