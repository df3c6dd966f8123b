//! WASI 0.3 HTTP components (`wasi:http/handler@0.3.0`, e.g. Spin SDK 7 apps):
//! the guest's `handle` is an `async func` run on the store's concurrent event
//! loop, which keeps running while the response body streams to the client.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use skiff_host::HostState;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::p3::bindings::ServicePre;

use crate::Failure;

/// Instantiates `pre` in `store`, calls `handle`, and sends the response on `tx`;
/// returns once the response body has been sent (or dropped by the client).
pub(crate) async fn handle<B>(
    pre: ServicePre<HostState>,
    mut store: Store<HostState>,
    req: http::Request<B>,
    tx: oneshot::Sender<
        Result<
            http::Response<HyperOutgoingBody>,
            wasmtime_wasi_http::p2::bindings::http::types::ErrorCode,
        >,
    >,
    ready: crate::InstanceReady,
) -> Result<(), Failure>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let service = pre
        .instantiate_async(&mut store)
        .await
        .map_err(Failure::Instantiate)?;
    ready.record();
    let mut req = req;
    complete_target(&mut req);
    let (request, request_io) =
        wasmtime_wasi_http::p3::Request::from_http(store.data_mut().http().hooks, req);
    store
        .run_concurrent(async move |accessor| {
            let response = match service
                .handle(accessor, request)
                .await
                .map_err(Failure::Guest)?
            {
                Ok(response) => response,
                Err(code) => return Err(Failure::ErrorCode(format!("{code:?}"))),
            };
            let response = accessor
                .with(|mut store| response.into_http(&mut store, request_io))
                .map_err(Failure::Guest)?;
            let (sent_tx, sent_rx) = oneshot::channel::<()>();
            let response = response.map(|body| {
                SentGuard {
                    inner: body,
                    _sent: sent_tx,
                }
                .boxed_unsync()
            });
            if tx.send(Ok(response)).is_ok() {
                // Keep the event loop running while the guest writes the body;
                // the guard drops (and this resolves) once hyper is done with it.
                let _ = sent_rx.await;
            }
            Ok(())
        })
        .await
        .map_err(Failure::Guest)?
}

/// WASI 0.3 takes a request's scheme and authority from its URI
/// (`Request::from_http`), which HTTP/1.1's origin form (`GET /path`) leaves
/// out, though `http` and `https` requests always have both: they come from
/// the `Host` header, as WASI 0.2's `new_incoming_request` takes them. (The
/// server has already completed the target of TLS requests, and of those
/// without `Host`.)
fn complete_target<B>(req: &mut http::Request<B>) {
    if req.uri().authority().is_some() {
        return;
    }
    let Some(authority) = req
        .headers()
        .get(http::header::HOST)
        .and_then(|host| http::uri::Authority::try_from(host.as_bytes()).ok())
    else {
        return;
    };
    // Cannot fail: the target gets a scheme, an authority and a path.
    let _ = crate::server::absolute_target(req, None, Some(authority));
}

/// A response body that tells its producer, by being dropped, that it is no
/// longer being read.
struct SentGuard {
    inner: HyperOutgoingBody,
    _sent: oneshot::Sender<()>,
}

impl Body for SentGuard {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
