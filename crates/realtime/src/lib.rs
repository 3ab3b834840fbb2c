//! Realtime hub: registers live connections by user, session and room, fans messages out to
//! them (seed 000 `SocketManager`), enforces connection limits, closes the sockets of a
//! revoked session, and paces every connection's keep-alive from one shared ticker.
//! Transport-agnostic: a connection is a bounded queue of `Outbound`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

pub type ConnectionId = u64;

/// What the hub hands a connection task.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message already serialised as the `{type, data, timestamp}` envelope (UTF-8). Shared:
    /// every socket of a broadcast sends the same bytes, serialised once.
    Text(Bytes),
    /// A user's stored notification, with its per-user sequence number for resume/de-dup.
    Sequenced { seq: i64, text: Bytes },
    /// Close with a reason (`session_revoked`, `too_slow`...).
    Close(&'static str),
    /// The shared ticker's turn for this connection: time to ping it (and to give up on it if
    /// it has been silent too long). Never queued: a flag in the mailbox.
    Tick,
}

/// The one `Tick` every mailbox hands out.
static TICK: LazyLock<Arc<Outbound>> = LazyLock::new(|| Arc::new(Outbound::Tick));

/// Serialises the seed's envelope: `{type, data, timestamp}` (milliseconds).
pub fn envelope(kind: &str, data: impl Serialize) -> Bytes {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Bytes::from(
        serde_json::json!({ "type": kind, "data": data, "timestamp": timestamp }).to_string(),
    )
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub max_connections_per_user: usize,
    /// Messages a connection may have queued before it counts as too slow and is closed.
    pub queue: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    TooManyConnections,
    TooManyForUser,
}

/// A hub entry. Most connections are idle and many anonymous: who they are and the rooms
/// they joined sit behind one pointer, so the map's buckets stay small (16 bytes + the key).
#[derive(Debug)]
struct Connection {
    sender: Sender,
    membership: Option<Box<Membership>>,
}

#[derive(Debug, Default)]
struct Membership {
    /// `(user, session)` once signed in.
    user: Option<(i64, String)>,
    /// Few per connection: a `Vec` is half a `HashSet`'s size.
    rooms: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: ConnectionId,
    connections: HashMap<ConnectionId, Connection>,
    by_user: HashMap<i64, HashSet<ConnectionId>>,
    by_session: HashMap<String, HashSet<ConnectionId>>,
    by_room: HashMap<String, HashSet<ConnectionId>>,
}

#[derive(Debug)]
pub struct Hub {
    limits: Limits,
    state: Mutex<State>,
}

impl Hub {
    pub fn new(limits: Limits) -> Hub {
        Hub {
            limits,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves maps that are still consistent enough to use.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers an anonymous connection; returns its id and the receiver to drain.
    pub fn connect(&self) -> Result<(ConnectionId, Receiver), Refused> {
        let mut state = self.lock();
        if state.connections.len() >= self.limits.max_connections {
            return Err(Refused::TooManyConnections);
        }
        let (sender, receiver) = mailbox(self.limits.queue);
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(
            id,
            Connection {
                sender,
                membership: None,
            },
        );
        Ok((id, receiver))
    }

    /// Attaches a connection to a signed-in user and session.
    pub fn authenticate(
        &self,
        id: ConnectionId,
        user_id: i64,
        session_id: &str,
    ) -> Result<(), Refused> {
        let mut state = self.lock();
        let already = state
            .connections
            .get(&id)
            .and_then(|c| c.membership.as_ref()?.user.as_ref().map(|(user, _)| *user));
        if already != Some(user_id)
            && state.by_user.get(&user_id).map_or(0, HashSet::len)
                >= self.limits.max_connections_per_user
        {
            return Err(Refused::TooManyForUser);
        }
        let State {
            connections,
            by_user,
            by_session,
            ..
        } = &mut *state;
        let Some(connection) = connections.get_mut(&id) else {
            return Ok(());
        };
        let membership = connection.membership.get_or_insert_default();
        if let Some((old_user, old_session)) = membership.user.take() {
            remove_from(by_user, &old_user, id);
            remove_from(by_session, &old_session, id);
        }
        membership.user = Some((user_id, session_id.to_owned()));
        by_user.entry(user_id).or_default().insert(id);
        by_session
            .entry(session_id.to_owned())
            .or_default()
            .insert(id);
        Ok(())
    }

    pub fn join(&self, id: ConnectionId, room: &str) {
        let mut state = self.lock();
        let State {
            connections,
            by_room,
            ..
        } = &mut *state;
        if let Some(connection) = connections.get_mut(&id) {
            let rooms = &mut connection.membership.get_or_insert_default().rooms;
            if !rooms.iter().any(|r| r == room) {
                rooms.push(room.to_owned());
            }
            by_room.entry(room.to_owned()).or_default().insert(id);
        }
    }

    pub fn leave(&self, id: ConnectionId, room: &str) {
        let mut state = self.lock();
        let State {
            connections,
            by_room,
            ..
        } = &mut *state;
        if let Some(membership) = connections.get_mut(&id).and_then(|c| c.membership.as_mut()) {
            membership.rooms.retain(|r| r != room);
            remove_from(by_room, room, id);
        }
    }

    pub fn disconnect(&self, id: ConnectionId) {
        let mut state = self.lock();
        let State {
            connections,
            by_user,
            by_session,
            by_room,
            ..
        } = &mut *state;
        if let Some(membership) = connections.remove(&id).and_then(|c| c.membership) {
            if let Some((user, session)) = membership.user {
                remove_from(by_user, &user, id);
                remove_from(by_session, &session, id);
            }
            for room in membership.rooms {
                remove_from(by_room, &room, id);
            }
        }
    }

    /// Queues `message` for every connection of `user_id`; returns how many got it.
    pub fn send_to_user(&self, user_id: i64, message: &Outbound) -> usize {
        self.deliver(|state| Targets::Some(state.by_user.get(&user_id)), message)
    }

    pub fn send_to_session(&self, session_id: &str, message: &Outbound) -> usize {
        self.deliver(
            |state| Targets::Some(state.by_session.get(session_id)),
            message,
        )
    }

    pub fn send_to_room(&self, room: &str, message: &Outbound) -> usize {
        self.deliver(|state| Targets::Some(state.by_room.get(room)), message)
    }

    pub fn broadcast(&self, message: &Outbound) -> usize {
        self.deliver(|_| Targets::All, message)
    }

    /// Closes every socket of a session (it was revoked).
    pub fn close_session(&self, session_id: &str) -> usize {
        self.send_to_session(session_id, &Outbound::Close("session_revoked"))
    }

    pub fn close_user(&self, user_id: i64) -> usize {
        self.send_to_user(user_id, &Outbound::Close("session_revoked"))
    }

    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Hands `Tick` to the connections of one slice out of `slices` (by id), so a full
    /// round of keep-alives is spread over `slices` calls instead of landing all at once.
    pub fn tick(&self, slice: u64, slices: u64) -> usize {
        let state = self.lock();
        let mut ticked = 0;
        for (id, connection) in &state.connections {
            if id % slices == slice % slices && connection.sender.tick() {
                ticked += 1;
            }
        }
        ticked
    }

    /// Starts the one task that paces every connection's keep-alive: each connection gets a
    /// `Tick` once per `interval` (in `SLICES` staggered groups). It holds the hub weakly and
    /// ends with it. Needs a tokio runtime.
    pub fn start_ticker(self: &Arc<Hub>, interval: Duration) {
        const SLICES: u32 = 30;
        let hub: Weak<Hub> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(interval / SLICES);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            let mut slice = 0u64;
            loop {
                every.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.tick(slice, u64::from(SLICES));
                slice = slice.wrapping_add(1);
            }
        });
    }

    /// A connection whose queue is full is too slow to keep up: it is dropped from the hub,
    /// which closes its channel, and its task closes the socket; the client reconnects and
    /// resumes from its last sequence number, losing nothing.
    fn deliver(&self, targets: impl FnOnce(&State) -> Targets<'_>, message: &Outbound) -> usize {
        // One allocation shared by every receiver; each gets a pointer.
        let message = Arc::new(message.clone());
        let mut delivered = 0;
        let mut too_slow = Vec::new();
        {
            let state = self.lock();
            let mut offer =
                |id: ConnectionId, connection: &Connection| match connection.sender.offer(&message)
                {
                    Offered::Queued => delivered += 1,
                    Offered::Full => too_slow.push(id),
                    Offered::Closed => {}
                };
            match targets(&state) {
                // Straight over the connection map: no id set to build for a broadcast.
                Targets::All => {
                    for (id, connection) in &state.connections {
                        offer(*id, connection);
                    }
                }
                Targets::Some(ids) => {
                    for id in ids.into_iter().flatten() {
                        if let Some(connection) = state.connections.get(id) {
                            offer(*id, connection);
                        }
                    }
                }
            }
        }
        for id in too_slow {
            self.disconnect(id);
        }
        delivered
    }
}

/// Who a message goes to: every connection, or the ids of a user, session or room.
enum Targets<'a> {
    All,
    Some(Option<&'a HashSet<ConnectionId>>),
}

/// A connection's queue. An idle connection holds only this (no slots: the deque allocates on
/// first use, and gives a burst's slots back once drained), where a tokio `mpsc` channel
/// allocates a block of 32 slots and cache-padded state up front, about 1 KB per socket. The
/// waiting task's waker sits in the same lock: no separate notifier, and the receiving future
/// is one pointer.
#[derive(Debug)]
struct Mailbox {
    queue: Mutex<Queue>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Arc<Outbound>>,
    /// The ticker's turn came; handed out as `Outbound::Tick` after what is queued.
    tick: bool,
    /// The hub dropped the connection, or its receiver is gone.
    closed: bool,
    /// The receiving task, while it waits.
    waker: Option<Waker>,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
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

fn mailbox(capacity: usize) -> (Sender, Receiver) {
    let mailbox = Arc::new(Mailbox {
        queue: Mutex::default(),
        capacity,
    });
    (Sender(mailbox.clone()), Receiver(mailbox))
}

enum Offered {
    Queued,
    Full,
    Closed,
}

/// The hub's end; dropping it (the connection left the hub) ends the receiver once drained.
#[derive(Debug)]
struct Sender(Arc<Mailbox>);

impl Sender {
    fn offer(&self, message: &Arc<Outbound>) -> Offered {
        let mut outcome = Offered::Closed;
        self.0.update(|queue| {
            if queue.closed {
                return false;
            }
            if queue.items.len() >= self.0.capacity {
                outcome = Offered::Full;
                return false;
            }
            queue.items.push_back(message.clone());
            outcome = Offered::Queued;
            true
        });
        outcome
    }

    /// Raises the tick flag (no allocation); false if the receiver is gone.
    fn tick(&self) -> bool {
        self.0.update(|queue| {
            queue.tick = !queue.closed;
            queue.tick
        })
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
pub struct Receiver(Arc<Mailbox>);

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
            None if queue.closed => Err(TryRecvError::Disconnected),
            None if std::mem::take(&mut queue.tick) => Ok(TICK.clone()),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next message; when none is queued, registers `cx`'s waker to be woken for one.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Outbound>>> {
        let mut queue = self.0.lock();
        match Self::take(&mut queue) {
            Ok(message) => Poll::Ready(Some(message)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                match &mut queue.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    pub fn recv(&mut self) -> impl Future<Output = Option<Arc<Outbound>>> + '_ {
        std::future::poll_fn(|cx| self.poll_recv(cx))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        queue.items.clear();
        queue.waker = None;
    }
}

fn remove_from<K: std::hash::Hash + Eq + ?Sized + ToOwned>(
    map: &mut HashMap<K::Owned, HashSet<ConnectionId>>,
    key: &K,
    id: ConnectionId,
) where
    K::Owned: std::hash::Hash + Eq + std::borrow::Borrow<K>,
{
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> Hub {
        Hub::new(Limits {
            max_connections: 3,
            max_connections_per_user: 2,
            queue: 4,
        })
    }

    #[test]
    fn messages_reach_the_user_session_and_room_they_target() {
        let hub = hub();
        let (a, mut ra) = hub.connect().expect("a");
        let (b, mut rb) = hub.connect().expect("b");
        hub.authenticate(a, 1, "s1").expect("auth a");
        hub.authenticate(b, 2, "s2").expect("auth b");
        hub.join(b, "lobby");
        let hello = Outbound::Text(Bytes::from_static(b"hi"));
        assert_eq!(hub.send_to_user(1, &hello), 1);
        assert!(ra.try_recv().is_ok() && rb.try_recv().is_err());
        assert_eq!(hub.send_to_room("lobby", &hello), 1);
        assert!(rb.try_recv().is_ok() && ra.try_recv().is_err());
        assert_eq!(hub.broadcast(&hello), 2);
        hub.disconnect(a);
        assert_eq!(hub.send_to_session("s1", &hello), 0);
    }

    #[test]
    fn a_full_queue_drops_the_connection_after_what_was_queued() {
        let hub = hub();
        let (a, mut ra) = hub.connect().expect("a");
        for n in 0..4 {
            assert_eq!(hub.broadcast(&Outbound::Text(n.to_string().into())), 1);
        }
        // The fifth finds the queue full: the connection leaves the hub.
        assert_eq!(
            hub.broadcast(&Outbound::Text(Bytes::from_static(b"late"))),
            0
        );
        assert_eq!(hub.connection_count(), 0);
        for n in 0..4 {
            match ra.try_recv().as_deref() {
                Ok(Outbound::Text(text)) => assert_eq!(&text[..], n.to_string().as_bytes()),
                other => panic!("expected message {n}, got {other:?}"),
            }
        }
        assert_eq!(ra.try_recv().err(), Some(TryRecvError::Disconnected));
        hub.disconnect(a);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_message_and_for_the_end() {
        let hub = Arc::new(hub());
        let (a, mut ra) = hub.connect().expect("a");
        let sender = hub.clone();
        let waiter = tokio::spawn(async move {
            let first = ra.recv().await.map(|m| matches!(*m, Outbound::Text(_)));
            let end = ra.recv().await.is_none();
            (first, end)
        });
        tokio::task::yield_now().await;
        assert_eq!(
            sender.broadcast(&Outbound::Text(Bytes::from_static(b"hi"))),
            1
        );
        sender.disconnect(a);
        assert_eq!(waiter.await.expect("waiter"), (Some(true), true));
    }

    #[tokio::test]
    async fn a_tick_reaches_its_slice_after_what_is_queued_and_allocates_nothing() {
        let hub = hub();
        let (a, mut ra) = hub.connect().expect("a");
        let (b, mut rb) = hub.connect().expect("b");
        assert_eq!(hub.broadcast(&Outbound::Text(Bytes::from_static(b"hi"))), 2);
        // Only the connection whose id falls in the slice is ticked.
        assert_eq!(hub.tick(a, 2), 1);
        assert!(matches!(
            *ra.recv().await.expect("message"),
            Outbound::Text(_)
        ));
        assert!(matches!(*ra.recv().await.expect("tick"), Outbound::Tick));
        assert_eq!(ra.try_recv().err(), Some(TryRecvError::Empty));
        assert!(matches!(
            *rb.recv().await.expect("message"),
            Outbound::Text(_)
        ));
        assert_eq!(rb.try_recv().err(), Some(TryRecvError::Empty));
        // Ticking an idle connection queues nothing.
        assert_eq!(hub.tick(b, 2), 1);
        assert!(rb.0.lock().items.is_empty());
        // A gone receiver is not ticked.
        drop(ra);
        assert_eq!(hub.tick(a, 2), 0);
    }

    #[test]
    fn a_gone_receiver_is_not_counted() {
        let hub = hub();
        let (_a, ra) = hub.connect().expect("a");
        drop(ra);
        assert_eq!(hub.broadcast(&Outbound::Text(Bytes::from_static(b"hi"))), 0);
    }

    #[test]
    fn limits_refuse_extra_connections() {
        let hub = hub();
        let ids: Vec<_> = (0..3).map(|_| hub.connect().expect("connect").0).collect();
        assert_eq!(hub.connect().err(), Some(Refused::TooManyConnections));
        hub.authenticate(ids[0], 7, "s").expect("first");
        hub.authenticate(ids[1], 7, "s").expect("second");
        assert_eq!(
            hub.authenticate(ids[2], 7, "s"),
            Err(Refused::TooManyForUser)
        );
    }
}
