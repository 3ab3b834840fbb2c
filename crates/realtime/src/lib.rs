//! Realtime hub: registers live connections by user, session and room, fans messages out to
//! them (seed 000 `SocketManager`), enforces connection limits, and closes the sockets of a
//! revoked session. Transport-agnostic: a connection is a bounded channel of `Outbound`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::mpsc;

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
    rooms: HashSet<String>,
    sender: mpsc::Sender<Outbound>,
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
    pub fn connect(&self) -> Result<(ConnectionId, mpsc::Receiver<Outbound>), Refused> {
        let mut state = self.lock();
        if state.connections.len() >= self.limits.max_connections {
            return Err(Refused::TooManyConnections);
        }
        let (sender, receiver) = mpsc::channel(self.limits.queue);
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(
            id,
            Connection {
                user_id: None,
                session_id: None,
                rooms: HashSet::new(),
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
            connection.rooms.insert(room.to_owned());
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
            connection.rooms.remove(room);
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
        self.deliver(
            |state| state.by_user.get(&user_id).cloned().unwrap_or_default(),
            message,
        )
    }

    pub fn send_to_session(&self, session_id: &str, message: &Outbound) -> usize {
        self.deliver(
            |state| {
                state
                    .by_session
                    .get(session_id)
                    .cloned()
                    .unwrap_or_default()
            },
            message,
        )
    }

    pub fn send_to_room(&self, room: &str, message: &Outbound) -> usize {
        self.deliver(
            |state| state.by_room.get(room).cloned().unwrap_or_default(),
            message,
        )
    }

    pub fn broadcast(&self, message: &Outbound) -> usize {
        self.deliver(|state| state.connections.keys().copied().collect(), message)
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
    fn deliver(
        &self,
        targets: impl FnOnce(&State) -> HashSet<ConnectionId>,
        message: &Outbound,
    ) -> usize {
        let mut delivered = 0;
        let mut too_slow = Vec::new();
        {
            let state = self.lock();
            for id in targets(&state) {
                let Some(connection) = state.connections.get(&id) else {
                    continue;
                };
                match connection.sender.try_send(message.clone()) {
                    Ok(()) => delivered += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => too_slow.push(id),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
        }
        for id in too_slow {
            self.disconnect(id);
        }
        delivered
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
