//! The outbound HTTP policy: `allowed_outbound_hosts` applied to `wasi:http/outgoing-handler`.

use std::sync::Arc;

use skiff_outbound_networking::{AllowedHosts, Decision, OutboundTarget};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The `wasi:http` hooks of one component instance: every outgoing request is checked
/// against the component's grant before a connection is attempted.
pub struct OutboundHttp {
    component: Arc<str>,
    allowed: Arc<AllowedHosts>,
}

impl OutboundHttp {
    /// Hooks for `component` with grant `allowed`.
    pub fn new(component: Arc<str>, allowed: Arc<AllowedHosts>) -> Self {
        OutboundHttp { component, allowed }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<(), HttpError>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        let decision = OutboundTarget::new(&scheme, uri.host().unwrap_or_default(), port)
            .map(|target| self.allowed.check(&target));
        match decision {
            Ok(Decision::Allowed) => {}
            Ok(Decision::Denied(denial)) => {
                tracing::warn!(component = %self.component, "outbound HTTP request denied: {denial}");
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
            Err(err) => {
                tracing::warn!(component = %self.component, "outbound HTTP request refused: {err}");
                return Box::new(async { Err(HttpError::HttpRequestUriInvalid) });
            }
        }
        let _ = fut;
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
