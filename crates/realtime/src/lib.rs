//! Realtime hub: registers live connections by user, session and room, fans messages out to
//! them (seed 000 `SocketManager`), enforces connection limits, and closes the sockets of a
//! revoked session. Transport-agnostic: a connection is a bounded queue of `Outbound`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use tokio::sync::Notify;

pub type ConnectionId = u64;

/// What the hub hands a connection task.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A message already serialised as the `{type, data, timestamp}` envelope.
    Text(Arc<str>),
    /// A user's stored notification, with its per-user sequence number for resume/de-dup.
    Sequenced { seq: i64, text: Arc<str> },
    /// Close with a reason (`session_revoked`, `too_slow`...).
    Close(&'static str),
}

/// Serialises the seed's envelope: `{type, data, timestamp}` (milliseconds).
pub fn envelope(kind: &str, data: impl Serialize) -> Arc<str> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    serde_json::json!({ "type": kind, "data": data, "timestamp": timestamp })
        .to_string()
        .into()
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

#[derive(Debug)]
struct Connection {
    user_id: Option<i64>,
    session_id: Option<String>,
    /// Few per connection: a `Vec` is half a `HashSet`'s size in every idle entry.
    rooms: Vec<String>,
    sender: Sender,
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
                user_id: None,
                session_id: None,
                rooms: Vec::new(),
                sender,
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
        let already = state.connections.get(&id).and_then(|c| c.user_id);
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
        if let Some(old) = connection.user_id.take() {
            remove_from(by_user, &old, id);
        }
        if let Some(old) = connection.session_id.take() {
            remove_from(by_session, &old, id);
        }
        connection.user_id = Some(user_id);
        connection.session_id = Some(session_id.to_owned());
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
            if !connection.rooms.iter().any(|r| r == room) {
                connection.rooms.push(room.to_owned());
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
        if let Some(connection) = connections.get_mut(&id) {
            connection.rooms.retain(|r| r != room);
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
        if let Some(connection) = connections.remove(&id) {
            if let Some(user) = connection.user_id {
                remove_from(by_user, &user, id);
            }
            if let Some(session) = connection.session_id {
                remove_from(by_session, &session, id);
            }
            for room in connection.rooms {
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
/// first use), where a tokio `mpsc` channel allocates a block of 32 slots and cache-padded
/// state up front, about 1 KB per socket.
#[derive(Debug)]
struct Mailbox {
    queue: Mutex<Queue>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Arc<Outbound>>,
    /// The hub dropped the connection, or its receiver is gone.
    closed: bool,
}

impl Mailbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }
}

fn mailbox(capacity: usize) -> (Sender, Receiver) {
    let mailbox = Arc::new(Mailbox {
        queue: Mutex::default(),
        ready: Notify::new(),
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
        {
            let mut queue = self.0.lock();
            if queue.closed {
                return Offered::Closed;
            }
            if queue.items.len() >= self.0.capacity {
                return Offered::Full;
            }
            queue.items.push_back(message.clone());
        }
        // Stores a permit when the receiver is not waiting yet, so no wake-up is lost.
        self.0.ready.notify_one();
        Offered::Queued
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.0.close();
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
        let mut queue = self.0.lock();
        match queue.items.pop_front() {
            Some(message) => {
                // Give a burst's slots back once drained: idle sockets keep none.
                if queue.items.is_empty() && queue.items.capacity() > 8 {
                    queue.items = VecDeque::new();
                }
                Ok(message)
            }
            None if queue.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    pub async fn recv(&mut self) -> Option<Arc<Outbound>> {
        loop {
            match self.try_recv() {
                Ok(message) => return Some(message),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => self.0.ready.notified().await,
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut queue = self.0.lock();
        queue.closed = true;
        queue.items.clear();
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
        let hello = Outbound::Text("hi".into());
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
            let text: Arc<str> = n.to_string().into();
            assert_eq!(hub.broadcast(&Outbound::Text(text)), 1);
        }
        // The fifth finds the queue full: the connection leaves the hub.
        assert_eq!(hub.broadcast(&Outbound::Text("late".into())), 0);
        assert_eq!(hub.connection_count(), 0);
        for n in 0..4 {
            match ra.try_recv().as_deref() {
                Ok(Outbound::Text(text)) => assert_eq!(&**text, n.to_string()),
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
        assert_eq!(sender.broadcast(&Outbound::Text("hi".into())), 1);
        sender.disconnect(a);
        assert_eq!(waiter.await.expect("waiter"), (Some(true), true));
    }

    #[test]
    fn a_gone_receiver_is_not_counted() {
        let hub = hub();
        let (_a, ra) = hub.connect().expect("a");
        drop(ra);
        assert_eq!(hub.broadcast(&Outbound::Text("hi".into())), 0);
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
