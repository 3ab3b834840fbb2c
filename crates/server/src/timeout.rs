//! The request deadline (`REQUEST_TIMEOUT`): a 408 once a handler has run that long. The timer
//! is armed only when the handler does not answer on its first poll, so a request served at
//! once (`/health`, cached assets) registers no timer: with tower-http's layer every request
//! did, and each registration woke the runtime's driver with a system call.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::time::Sleep;
use tower::{Layer, Service};

#[derive(Debug, Clone, Copy)]
pub struct RequestTimeoutLayer {
    pub limit: Duration,
}

impl<S> Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> RequestTimeout<S> {
        RequestTimeout {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S, B> Service<Request<B>> for RequestTimeout<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        TimeoutFuture {
            inner: self.inner.call(request),
            limit: self.limit,
            sleep: None,
        }
    }
}

pin_project_lite::pin_project! {
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        limit: Duration,
        // Boxed: armed on a minority of requests, and a `Sleep` is large.
        sleep: Option<Pin<Box<Sleep>>>,
    }
}

impl<F> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(response) = this.inner.poll(cx) {
            return Poll::Ready(response);
        }
        let limit = *this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            // An empty 408: the edge turns it into the JSON envelope.
            Poll::Ready(()) => Poll::Ready(Ok(
                (StatusCode::REQUEST_TIMEOUT, Body::empty()).into_response()
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}
