//! The socket of one served HTTP connection: a `TcpStream` whose small vectored writes go out
//! as one `send`.
//!
//! hyper writes a response as a vectored write of its head and its body. On Linux `writev`
//! takes the generic file path (iovec import, file checks, the socket's `write_iter`), which
//! costs more than the whole user-space side of a small response; `send` of one buffer skips
//! it. Gathering the pieces here, rather than letting hyper flatten every body into its own
//! write buffer (`http1().writev(false)`), keeps large bodies uncopied and keeps that buffer
//! from growing to the largest body a keep-alive connection ever sent.

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Largest vectored write that is copied into one buffer; bigger ones stay a `writev`, where
/// the copy would cost more than the system call it saves.
const GATHER_MAX: usize = 8 * 1024;

thread_local! {
    /// Where small vectored writes are gathered: one per thread, not one per connection.
    static GATHER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A served TCP connection (see the module documentation).
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn { stream }
    }

    pub fn into_inner(self) -> TcpStream {
        self.stream
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let stream = Pin::new(&mut self.stream);
        if bufs.iter().filter(|b| !b.is_empty()).count() <= 1 {
            // Nothing or one piece: a plain send of it.
            let only = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return stream.poll_write(cx, only);
        }
        if bufs.iter().map(|b| b.len()).sum::<usize>() > GATHER_MAX {
            return stream.poll_write_vectored(cx, bufs);
        }
        GATHER.with_borrow_mut(|gathered| {
            gathered.clear();
            for piece in bufs {
                gathered.extend_from_slice(piece);
            }
            // A send takes a prefix of the bytes, as a writev would: the caller advances by
            // the count either way.
            stream.poll_write(cx, gathered)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A served end (`Conn`) and the client's end of one loopback connection.
    async fn pair() -> (Conn, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"));
        let (client, accepted) = tokio::join!(client, listener.accept());
        (
            Conn::new(accepted.expect("accept").0),
            client.expect("connect"),
        )
    }

    /// Writes `pieces` through `conn` with vectored writes until all are sent; returns the
    /// count the first call reported.
    async fn write_pieces(conn: &mut Conn, pieces: &[&[u8]]) -> usize {
        let mut rest: Vec<Vec<u8>> = pieces.iter().map(|p| p.to_vec()).collect();
        let mut first = None;
        while rest.iter().any(|p| !p.is_empty()) {
            let slices: Vec<IoSlice<'_>> = rest.iter().map(|p| IoSlice::new(p)).collect();
            let mut n = conn.write_vectored(&slices).await.expect("write");
            first.get_or_insert(n);
            for piece in &mut rest {
                let taken = n.min(piece.len());
                piece.drain(..taken);
                n -= taken;
            }
        }
        first.unwrap_or(0)
    }

    #[tokio::test]
    async fn small_pieces_go_out_whole_in_one_write() {
        let (mut conn, mut client) = pair().await;
        let pieces: [&[u8]; 4] = [b"HTTP/1.1 200 OK\r\n\r\n", b"", b"{\"status\"", b":\"ok\"}"];
        let sent = write_pieces(&mut conn, &pieces).await;
        let expected = pieces.concat();
        assert_eq!(sent, expected.len(), "one call takes every piece");
        let mut got = vec![0; expected.len()];
        client.read_exact(&mut got).await.expect("read");
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn large_and_single_pieces_arrive_in_order() {
        let (mut conn, mut client) = pair().await;
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 3000000\r\n\r\n".to_vec();
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = [head.clone(), body.clone(), b"tail".to_vec()].concat();
        let reader = tokio::spawn(async move {
            let mut got = vec![0; expected.len()];
            client.read_exact(&mut got).await.expect("read");
            assert_eq!(got, expected, "bytes arrive whole and in order");
        });
        write_pieces(&mut conn, &[&head, &body]).await;
        assert_eq!(write_pieces(&mut conn, &[b"", b"tail", b""]).await, 4);
        conn.flush().await.expect("flush");
        reader.await.expect("reader");
    }

    #[tokio::test]
    async fn reads_and_shutdown_pass_through() {
        let (mut conn, mut client) = pair().await;
        client
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut got = [0; 18];
        conn.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"GET / HTTP/1.1\r\n\r\n");
        conn.shutdown().await.expect("shutdown");
        let mut rest = Vec::new();
        assert_eq!(client.read_to_end(&mut rest).await.expect("eof"), 0);
    }
}
