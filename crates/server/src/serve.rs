//! The accept loop: one hyper connection (HTTP/1.1 with upgrades, or HTTP/2) per accepted
//! socket, served by that connection's `edge::Front`, and the graceful stop (no new
//! connections, each open one finishes its in-flight requests).
//!
//! In place of `axum::serve`, which cloned the whole middleware stack and inserted the peer
//! address into every request before any of it ran, including the `/health` answers the
//! front gives without the stack; here the socket also gets `TCP_NODELAY`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use platform::net::Conn;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::Service;

use crate::edge::Front;

/// Serves `front` on `listener` until `stop` resolves; then stops accepting, asks every
/// connection to finish (idle ones close at once, busy ones after their current requests) and
/// returns once all have. The caller bounds that wait (`SHUTDOWN_TIMEOUT`).
pub async fn serve<S>(
    listener: TcpListener,
    front: Front<S>,
    stop: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    let (stopping_tx, stopping) = watch::channel(false);
    // Each connection's task holds a sender; all dropped = every connection has finished.
    let (open_tx, mut open) = mpsc::channel::<()>(1);
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors and the like: wait rather than spin.
                    tracing::error!(target: "server", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // Responses are written whole; don't let Nagle hold one back behind an unacked one.
        let _ = stream.set_nodelay(true);
        let service = front.for_peer(peer);
        let mut stopping = stopping.clone();
        let open = open_tx.clone();
        tokio::spawn(async move {
            let builder = Builder::new(TokioExecutor::new());
            let io = TokioIo::new(Conn::new(stream));
            let connection = builder.serve_connection_with_upgrades(io, service);
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => finished(result),
                () = async {
                    let _ = stopping.wait_for(|stopping| *stopping).await;
                } => {
                    connection.as_mut().graceful_shutdown();
                    finished(connection.await);
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    drop(open_tx);
    let _ = open.recv().await;
    Ok(())
}

fn finished(result: Result<(), Box<dyn std::error::Error + Send + Sync>>) {
    if let Err(e) = result {
        tracing::trace!(target: "server", error = %e, "connection ended with an error");
    }
}

/// Errors of one connection that says goodbye before it is accepted; the listener is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
