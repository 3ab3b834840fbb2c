//! Realtime hub: registers live connections by user, session and room, fans messages out to
//! them (seed 000 `SocketManager`), enforces connection limits, closes the sockets of a
//! revoked session, and paces every connection's keep-alive from one shared ticker.
//! A connection is a bounded queue of `Outbound` (`mailbox.rs`) and, once its task attaches
//! the socket, text for an idle socket is written from the hub's task directly.

mod mailbox;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;

use mailbox::{Mailbox, Offered, Sender, mailbox};
pub use mailbox::{Reader, Receiver, TryRecvError, Wire, Writer, text_frame};

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
    /// In id order, which is the order the sockets were accepted in: a broadcast walks them
    /// so, and the kernel's socket objects (and the mailboxes), allocated in that order too,
    /// are visited neighbour after neighbour rather than at random.
    connections: BTreeMap<ConnectionId, Connection>,
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
        // One allocation shared by every receiver; each gets a pointer. Text is framed once
        // for every socket it is written to directly.
        let message = Arc::new(message.clone());
        let frame = match &*message {
            Outbound::Text(text) => Some(text_frame(text)),
            _ => None,
        };
        // The targets are taken under the hub's lock; the writes happen outside it, so
        // connecting and leaving sockets do not wait for a broadcast's system calls.
        let targets: Vec<(ConnectionId, Arc<Mailbox>)> = {
            let state = self.lock();
            let target =
                |(id, connection): (&ConnectionId, &Connection)| (*id, connection.sender.mailbox());
            match targets(&state) {
                // Straight over the connection map: no id set to build for a broadcast.
                Targets::All => state.connections.iter().map(target).collect(),
                Targets::Some(ids) => ids
                    .into_iter()
                    .flatten()
                    .filter_map(|id| state.connections.get_key_value(id))
                    .map(target)
                    .collect(),
            }
        };
        let mut delivered = 0;
        let mut too_slow = Vec::new();
        for (id, mailbox) in targets {
            match mailbox.offer(&message, frame.as_ref()) {
                Offered::Queued => delivered += 1,
                Offered::Full => too_slow.push(id),
                Offered::Closed => {}
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

    /// A loopback pair whose server end has a small send buffer (and the client a small
    /// receive window), so a client that does not read fills the path after a few frames.
    async fn tcp_pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let server = tokio::net::TcpSocket::new_v4().expect("socket");
        server.set_send_buffer_size(4096).expect("send buffer");
        server
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind");
        let listener = server.listen(1).expect("listen");
        let address = listener.local_addr().expect("address");
        let client = tokio::net::TcpSocket::new_v4().expect("socket");
        client.set_recv_buffer_size(4096).expect("receive buffer");
        let (client, accepted) = tokio::join!(client.connect(address), listener.accept());
        (accepted.expect("accept").0, client.expect("connect"))
    }

    fn wired_hub(queue: usize) -> Hub {
        Hub::new(Limits {
            max_connections: 4,
            max_connections_per_user: 4,
            queue,
        })
    }

    fn text(byte: u8, len: usize) -> Outbound {
        Outbound::Text(Bytes::from(vec![byte; len]))
    }

    async fn read_exactly(client: &mut tokio::net::TcpStream, len: usize) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let mut got = vec![0; len];
        client.read_exact(&mut got).await.expect("read");
        got
    }

    #[tokio::test]
    async fn the_hub_writes_text_to_an_attached_socket_without_waking_its_task() {
        let hub = wired_hub(4);
        let (server, mut client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        rx.attach_tcp(server).expect("attach");
        assert_eq!(
            hub.broadcast(&Outbound::Text(Bytes::from_static(b"hello"))),
            1
        );
        let frame = text_frame(b"hello");
        assert_eq!(&frame[..2], &[0x81, 5]);
        assert_eq!(read_exactly(&mut client, frame.len()).await, frame);
        // Nothing was queued for the connection's task, and nothing woke it.
        assert_eq!(rx.try_recv().err(), Some(TryRecvError::Empty));
        assert!(rx.0.lock().unsent.is_empty());
    }

    #[test]
    fn text_frames_carry_their_length_in_the_shortest_form() {
        assert_eq!(&text_frame(&[b'x'; 125])[..2], &[0x81, 125]);
        assert_eq!(&text_frame(&[b'x'; 126])[..4], &[0x81, 126, 0, 126]);
        assert_eq!(&text_frame(&[b'x'; 65_535])[..4], &[0x81, 126, 255, 255]);
        assert_eq!(
            &text_frame(&[b'x'; 65_536])[..10],
            &[0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(text_frame(&[b'x'; 65_536]).len(), 65_546);
    }

    #[tokio::test]
    async fn a_slow_reader_gets_every_frame_whole_and_in_order() {
        use tokio::io::AsyncWriteExt;
        let hub = Arc::new(wired_hub(64));
        let (server, mut client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        rx.attach_tcp(server).expect("attach");
        let mut expected = Vec::new();
        // The client reads nothing yet: the socket takes a few frames, part of one, and the
        // rest waits in order.
        for n in 0..20u8 {
            assert_eq!(hub.broadcast(&text(b'a' + n, 32 * 1024)), 1);
            expected.extend_from_slice(&text_frame(&[b'a' + n; 32 * 1024]));
        }
        assert!(!rx.0.lock().unsent.is_empty(), "the socket filled up");
        // A message for the task, then more text: the text waits behind it.
        let sequenced = Outbound::Sequenced {
            seq: 1,
            text: Bytes::from_static(b"sequenced"),
        };
        assert_eq!(hub.broadcast(&sequenced), 1);
        expected.extend_from_slice(&text_frame(b"sequenced"));
        for n in 0..5u8 {
            assert_eq!(hub.broadcast(&text(b'A' + n, 1000)), 1);
            expected.extend_from_slice(&text_frame(&[b'A' + n; 1000]));
        }
        assert_eq!(hub.connection_count(), 1, "not too slow: within its queue");
        // The connection's task: writes what the hub left, and its own frames through the
        // same queue.
        let task = tokio::spawn(async move {
            let mut writer = rx.writer();
            while let Some(message) = rx.recv().await {
                if let Outbound::Sequenced { text, .. } = &*message {
                    writer.write_all(&text_frame(text)).await.expect("write");
                    writer.flush().await.expect("flush");
                }
            }
        });
        assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
        hub.disconnect(1);
        task.await.expect("task");
    }

    #[tokio::test]
    async fn text_waits_behind_an_item_the_task_is_still_writing() {
        use tokio::io::AsyncWriteExt;
        let hub = wired_hub(4);
        let (server, mut client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        rx.attach_tcp(server).expect("attach");
        let close = Outbound::Close("bye");
        assert_eq!(hub.broadcast(&close), 1);
        assert!(matches!(
            *rx.recv().await.expect("item"),
            Outbound::Close(_)
        ));
        // The task holds the close and has written nothing yet: later text must not pass it.
        assert_eq!(hub.broadcast(&text(b'z', 10)), 1);
        assert_eq!(rx.0.lock().items.len(), 1, "queued, not written");
        let mut writer = rx.writer();
        writer.write_all(b"close!").await.expect("write");
        // The task comes back for more: the text goes out now.
        std::future::poll_fn(|cx| {
            assert!(rx.poll_recv(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        let mut expected = b"close!".to_vec();
        expected.extend_from_slice(&text_frame(&[b'z'; 10]));
        assert_eq!(read_exactly(&mut client, expected.len()).await, expected);
    }

    #[tokio::test]
    async fn the_task_reads_the_socket_the_mailbox_holds_while_the_hub_writes_it() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let hub = wired_hub(4);
        let (server, mut client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        let mut reader = rx.attach_tcp(server).expect("attach");
        // The task waits for the client's bytes; the hub writes meanwhile.
        let read = tokio::spawn(async move {
            let mut got = [0; 5];
            reader.read_exact(&mut got).await.expect("read");
            got
        });
        assert_eq!(
            hub.broadcast(&Outbound::Text(Bytes::from_static(b"news"))),
            1
        );
        let frame = text_frame(b"news");
        assert_eq!(read_exactly(&mut client, frame.len()).await, frame);
        client.write_all(b"hello").await.expect("client write");
        assert_eq!(&read.await.expect("reader"), b"hello");
        // One socket per mailbox.
        let (other, _other_client) = tcp_pair().await;
        assert!(rx.attach_tcp(other).is_err());
    }

    #[tokio::test]
    async fn a_gone_receiver_ends_the_socket_at_once() {
        use tokio::io::AsyncReadExt;
        let hub = wired_hub(4);
        let (server, mut client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        let reader = rx.attach_tcp(server).expect("attach");
        // The task ends; the hub (and a broadcast in flight) may still hold the mailbox, but
        // the client hears the end now, and nothing more is written.
        drop(rx);
        assert_eq!(
            hub.broadcast(&Outbound::Text(Bytes::from_static(b"late"))),
            0
        );
        let mut rest = Vec::new();
        // Bounded, so a socket left open fails the test instead of hanging it.
        tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut rest))
            .await
            .expect("the socket ended")
            .expect("read to the end");
        assert!(rest.is_empty(), "nothing after the end: {rest:?}");
        drop(reader);
    }

    #[tokio::test]
    async fn a_reader_that_stops_reading_is_dropped_not_waited_for() {
        let hub = wired_hub(4);
        let (server, _client) = tcp_pair().await;
        let (_, mut rx) = hub.connect().expect("connect");
        rx.attach_tcp(server).expect("attach");
        // Each broadcast returns at once; once four frames wait, the connection is dropped.
        let mut sent = 0;
        while hub.connection_count() == 1 {
            hub.broadcast(&text(b'x', 64 * 1024));
            sent += 1;
            assert!(sent < 100, "never dropped");
        }
        // Its task learns it at once, without waiting for the unsent frames to go.
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn one_broadcast_writes_to_every_idle_socket_from_the_hub() {
        // More sockets than tokio's per-poll budget of 128 IO operations: none of them may
        // be left to its task, whether written with `send` (a TCP stream) or with
        // `poll_write` (any other stream; here one split behind a lock).
        let hub = Hub::new(Limits {
            max_connections: 300,
            max_connections_per_user: 1,
            queue: 4,
        });
        let mut ends = Vec::new();
        for n in 0..300 {
            let (server, client) = tcp_pair().await;
            let (_, mut rx) = hub.connect().expect("connect");
            match n % 2 {
                0 => drop(rx.attach_tcp(server).expect("attach")),
                _ => rx.attach(Box::new(tokio::io::split(server).1)),
            }
            ends.push((rx, client));
        }
        let delivered = tokio::spawn(async move {
            let delivered = hub.broadcast(&Outbound::Text(Bytes::from_static(b"all")));
            (hub, delivered)
        });
        let (_hub, delivered) = delivered.await.expect("broadcast");
        assert_eq!(delivered, 300);
        let frame = text_frame(b"all");
        for (rx, client) in &mut ends {
            assert!(rx.0.lock().unsent.is_empty() && rx.0.lock().items.is_empty());
            assert_eq!(read_exactly(client, frame.len()).await, frame);
        }
    }
}
