//! The outbound HTTP policy: `allowed_outbound_hosts` applied to `wasi:http/outgoing-handler`.
//!
//! Every outgoing request is checked twice before a connection is attempted:
//! 1. by name — the component's grant must allow `scheme://host:port`;
//! 2. by address — the host is resolved and an address is used only if the grant
//!    allows it *as an address*: loopback, private, link-local and similar
//!    destinations must be named explicitly (a `*` or `*.domain` pattern never
//!    reaches them), so a public name that resolves inward is refused.
//!
//! Requests then connect to exactly the address that was checked (the `Host`
//! header keeps the name, and HTTPS verifies the certificate for it), so a
//! second DNS answer cannot redirect them (DNS rebinding). HTTPS trusts the
//! Mozilla roots and the system's, or what the component's `[[client_tls]]`
//! entry in the runtime config says, which may also present a client
//! certificate ([`skiff_outbound_networking::ClientTls`]). An `http://` request
//! to an authority the operator named for clear-text HTTP/2 with prior
//! knowledge ([`OutboundHttpLimits::sends_h2c`]) goes as HTTP/2 ("h2c"), after
//! the same checks.
//! A denial is returned to the guest as `HTTP-request-denied` (an address in the
//! operator's `block_networks` as `destination-IP-prohibited`), with one log
//! line naming the component, the destination and the grant it lacks.
//!
//! Requests to the app itself never leave the process (Spin's rules):
//! `http://ID.spin.internal/…` goes straight to component `ID` (granted by
//! `http://ID.spin.internal` or `http://*.spin.internal`), and `http://self.alt/…`
//! is routed by path like a request from outside (granted by `http://self` or
//! `http://self.alt`). Both are served by a [`LocalHttp`] the HTTP trigger provides.
//! A relative URL (`/api/items`) is Spin's other spelling of a `self.alt` request:
//! a request with no authority ([`relative_urls`]), or with an empty host (Spin's
//! Rust SDK sends `/api/items` as `https://:443/api/items`), goes to `self.alt`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use skiff_outbound_networking::{
    AllowedHosts, ClientTls, Decision, OutboundHttpLimits, OutboundTarget,
};
use wasmtime_wasi_http::{
    DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, ForbiddenHeaderFilter, RequestOptions, WasiBody,
    WasiHttpHooks,
};

/// A response future from a [`LocalHttp`].
pub type LocalResponse =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, HttpError>> + Send>>;

/// Serves requests to the app's own components in-process (implemented by the
/// HTTP trigger).
pub trait LocalHttp: Send + Sync {
    /// Serves `request` with component `component` (`http://ID.spin.internal`),
    /// or, when `component` is `None`, with the component the app's routes
    /// choose for its path (`http://self.alt`).
    fn call(&self, component: Option<&str>, request: http::Request<WasiBody>) -> LocalResponse;
}

/// The `wasi:http` hooks of one component instance: its component's grants
/// (one `Arc` per instance; everything is read from it when a request goes out).
pub struct OutboundHttp {
    config: Arc<crate::InstanceConfig>,
}

impl OutboundHttp {
    /// Hooks for an instance of the component `config` describes: its
    /// `allowed_outbound_hosts`, the app's outbound limits, its connection pool
    /// and, inside an app, the app's own components.
    pub(crate) fn new(config: Arc<crate::InstanceConfig>) -> Self {
        OutboundHttp { config }
    }

    /// The component's config.
    pub(crate) fn config(&self) -> &crate::InstanceConfig {
        &self.config
    }

    /// A request to the app itself: answered in-process, or denied.
    fn local_request(
        &self,
        component: Option<&str>,
        target: &OutboundTarget,
        request: http::Request<WasiBody>,
    ) -> SendFuture {
        let allowed = match component {
            Some(_) => self.config.allowed_outbound.allows(target),
            None => self.config.allowed_outbound.allows_self(),
        };
        let grant = match component {
            Some(id) => format!("`http://{id}.spin.internal` (or `http://*.spin.internal`)"),
            None => "`http://self`".to_string(),
        };
        let local = match (&self.config.local_http, allowed) {
            (Some(local), true) => local.clone(),
            (None, _) => {
                tracing::warn!(component = %self.config.component_id, "outbound HTTP request to `{}` denied: only components of an app served by `skiff up` can reach the app itself", target.as_pattern());
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
            (Some(_), false) => {
                tracing::warn!(component = %self.config.component_id, "outbound HTTP request to `{}` denied: add {grant} to `allowed_outbound_hosts`", target.as_pattern());
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        let response = local.call(component, request);
        Box::new(async move {
            let response = response.await?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<(), HttpError>> + Send>;
type SendFuture = Box<
    dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: IoFuture,
    ) -> SendFuture {
        let _ = fut;
        // With traces on: a span for the request, in the guest's request's
        // trace, and its context sent along (service chaining included).
        let Some(span) = skiff_telemetry::http::client_span(&request, &self.config.component_id)
        else {
            return self.send(request, options);
        };
        skiff_telemetry::inject(&span, request.headers_mut());
        let sent = Box::into_pin(span.in_scope(|| self.send(request, options)));
        Box::new(tracing::Instrument::instrument(
            async move {
                let result = sent.await;
                let span = tracing::Span::current();
                match &result {
                    Ok((response, _)) => {
                        skiff_telemetry::http::record_response(&span, response.status(), true)
                    }
                    Err(err) => skiff_telemetry::http::record_error(
                        &span,
                        &error_type(err),
                        &err.to_string(),
                    ),
                }
                result
            },
            span,
        ))
    }

    // wasmtime-wasi-http's defaults, without their allocation: the default
    // `is_forbidden_header` builds a fresh `Arc`'d filter for every header name
    // it checks (about ten per request: the request's headers, Spin's among
    // them, and the guest's response headers).
    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        is_forbidden(name)
    }

    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        static FILTER: std::sync::LazyLock<ForbiddenHeaderFilter> =
            std::sync::LazyLock::new(|| Arc::new(is_forbidden));
        FILTER.clone()
    }
}

/// The `error.type` of a failed outbound request: the `wasi:http` error
/// code's name (`HTTP-request-denied` is `HttpRequestDenied`).
fn error_type(err: &HttpError) -> String {
    let debug = format!("{err:?}");
    match debug.find(|c: char| !c.is_ascii_alphanumeric()) {
        Some(end) => debug[..end].to_string(),
        None => debug,
    }
}

impl OutboundHttp {
    /// Sends a guest's request: to the app itself, to another component, or
    /// out, as its grants allow.
    fn send(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> SendFuture {
        if request.uri().host().is_none_or(str::is_empty) {
            address_to_self(&mut request);
        }
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let host = uri.host().unwrap_or_default().to_string();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        let target = match OutboundTarget::new(&scheme, &host, port) {
            Ok(target) => target,
            Err(err) => {
                tracing::warn!(component = %self.config.component_id, "outbound HTTP request refused: {err}");
                return Box::new(async { Err(HttpError::HttpRequestUriInvalid) });
            }
        };
        if host.eq_ignore_ascii_case(SELF_AUTHORITY) {
            return self.local_request(None, &target, request);
        }
        if let Some(id) = skiff_outbound_networking::service_chaining_target(&host) {
            let id = id.to_string();
            return self.local_request(Some(&id), &target, request);
        }
        if let Decision::Denied(denial) = self.config.allowed_outbound.check(&target) {
            tracing::warn!(component = %self.config.component_id, "outbound HTTP request denied: {denial}");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let component = self.config.component_id.clone();
        let allowed = self.config.allowed_outbound.clone();
        let (limits, permits) = self.config.outbound_http.get();
        let pool = self.config.connections.http.clone();
        let keep_alive = limits.connection_pooling;
        if !keep_alive {
            // Pooling was turned off by a reload: what it kept is closed now.
            pool.clear();
        }
        let transport = match scheme.as_str() {
            "https" => match tls_for(&component, &self.config.outbound_http.tls(), &host, port) {
                Ok(tls) => crate::send::Transport::Tls(tls),
                Err(err) => return Box::new(async { Err(err) }),
            },
            _ if limits.sends_h2c(&target) => crate::send::Transport::H2c,
            _ => crate::send::Transport::Http1,
        };
        Box::new(async move {
            let _permit = match &permits {
                Some(permits) => Some(permits.acquire().await.map_err(|_| {
                    HttpError::InternalError(Some("outbound request limit closed".into()))
                })?),
                None => None,
            };
            let addrs = checked_addresses(&component, &allowed, &target, &host, port).await?;
            let options = capped_timeouts(options, &limits);
            let who = crate::send::Sender {
                component: &component,
                target: &target,
            };
            let (res, io) = crate::send::send(
                request, &addrs, transport, &options, &who, &pool, keep_alive,
            )
            .await?;
            let res = match limits.max_response_size {
                None => res.map(BodyExt::boxed_unsync),
                Some(max) => {
                    if let Some(len) = declared_length(&res).filter(|len| *len > max) {
                        tracing::warn!(component = %component, "outbound HTTP response from `{}` refused: its body is {len} bytes, over the `max_response_size` of {max} bytes", target.as_pattern());
                        return Err(HttpError::HttpResponseBodySize(Some(len)));
                    }
                    res.map(|body| limit_body(body, max, component.clone()))
                }
            };
            Ok((res, Box::new(io) as IoFuture))
        })
    }
}

/// Whether a guest may not set header `name` itself (wasmtime-wasi-http's
/// default set: hop-by-hop and framing headers).
fn is_forbidden(name: &http::HeaderName) -> bool {
    DEFAULT_FORBIDDEN_HEADERS.contains(name)
}

/// The authority a request to a relative URL is given: the app itself.
pub const SELF_AUTHORITY: &str = "self.alt";

/// Readdresses a request whose URI names no host (`https://:443/path`) to
/// `http://self.alt`, in its URI and its `Host` header.
fn address_to_self(request: &mut http::Request<WasiBody>) {
    let mut parts = request.uri().clone().into_parts();
    parts.authority = Some(http::uri::Authority::from_static(SELF_AUTHORITY));
    parts.scheme = Some(http::uri::Scheme::HTTP);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *request.uri_mut() = uri;
        request.headers_mut().insert(
            http::header::HOST,
            http::HeaderValue::from_static(SELF_AUTHORITY),
        );
    }
}

/// `wasi:http` client interfaces that take relative URLs.
///
/// wasmtime builds an outgoing request's URI from its scheme, authority and
/// path before any [`WasiHttpHooks`] hook sees it, and a URI with a scheme but
/// no authority does not build: a guest's `GET /api/items` (Spin's relative
/// URL, which the Spin SDK sends with no authority when given an
/// `http::Request`) would fail with `HTTP-request-URI-invalid`. These wrap
/// wasmtime's `outgoing-handler` (WASI 0.2) and `client` (WASI 0.3) to give
/// such a request the URL `http://self.alt/…` first; everything else is
/// wasmtime's, and the request then meets the same grant (`http://self`) as
/// one written `http://self.alt/api/items`.
pub mod relative_urls {
    use wasmtime::component::{HasData, Linker, Resource};
    use wasmtime_wasi_http::p2::bindings::http::{outgoing_handler, types};
    use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};
    use wasmtime_wasi_http::{RequestOptions, WasiHttp, WasiHttpCtxView, WasiHttpView};

    /// The WASI 0.2 interface whose `handle` this replaces: the `wasi:http`
    /// version wasmtime 48 serves (guests of any 0.2.x are linked to it).
    const OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

    /// Adds WASI 0.2's `wasi:http/types` and `outgoing-handler` (both
    /// wasmtime's, the handler taking relative URLs) to `linker`.
    ///
    /// The environment's clear-text HTTP/2 destinations
    /// ([`H2cPriorKnowledge::from_env`](skiff_outbound_networking::H2cPriorKnowledge::from_env))
    /// are read here, once per process, so a malformed value fails the load
    /// of every app that could send outbound HTTP, naming the variable.
    pub fn add_p2_to_linker<T: WasiHttpView + 'static>(
        linker: &mut Linker<T>,
    ) -> wasmtime::Result<()> {
        skiff_outbound_networking::H2cPriorKnowledge::from_env()
            .map_err(|err| wasmtime::Error::msg(err.to_string()))?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
        // The generated `outgoing-handler` bindings would want the whole of
        // `wasi:http/types` implemented again by a wrapper type; replacing the
        // one function they define is the smaller change.
        linker.allow_shadowing(true);
        let defined = linker.instance(OUTGOING_HANDLER)?.func_wrap(
            "handle",
            |mut store,
             (request, options): (
                Resource<HostOutgoingRequest>,
                Option<Resource<RequestOptions>>,
            )| {
                let mut http = WasiHttpView::http(store.data_mut());
                Ok((handle(&mut http, request, options)?,))
            },
        );
        linker.allow_shadowing(false);
        defined
    }

    /// wasmtime's `handle`, after giving a request without an authority the app's.
    fn handle(
        http: &mut WasiHttpCtxView<'_>,
        request: Resource<HostOutgoingRequest>,
        options: Option<Resource<RequestOptions>>,
    ) -> wasmtime::Result<Result<Resource<HostFutureIncomingResponse>, types::ErrorCode>> {
        let req = http.table.get_mut(&request)?;
        if req.authority.as_deref().is_none_or(str::is_empty) {
            req.scheme = Some(types::Scheme::Http);
            req.authority = Some(super::SELF_AUTHORITY.to_string());
        }
        match outgoing_handler::Host::handle(http, request, options) {
            Ok(future) => Ok(Ok(future)),
            Err(err) => Ok(Err(types::Host::convert_error_code(http, err)?)),
        }
    }

    /// The [`HasData`] of the WASI 0.3 `client` that takes relative URLs.
    pub struct P3;

    impl HasData for P3 {
        type Data<'a> = WasiHttpCtxView<'a>;
    }

    impl<T> wasmtime_wasi_http::p3::bindings::http::client::HostWithStore<T> for P3 {
        async fn send(
            store: &wasmtime::component::Accessor<T, Self>,
            request: Resource<wasmtime_wasi_http::p3::Request>,
        ) -> Result<
            Resource<wasmtime_wasi_http::p3::Response>,
            wasmtime_wasi::TrappableError<wasmtime_wasi_http::p3::bindings::http::types::ErrorCode>,
        > {
            store.with(|mut access| {
                if let Ok(req) = access.get().table.get_mut(&request)
                    && req.authority.is_none()
                {
                    req.scheme = Some(http::uri::Scheme::HTTP);
                    req.authority = Some(http::uri::Authority::from_static(super::SELF_AUTHORITY));
                }
            });
            let wasmtime_http = store.with_getter::<WasiHttp>(store.getter());
            <WasiHttp as wasmtime_wasi_http::p3::bindings::http::client::HostWithStore<T>>::send(
                &wasmtime_http,
                request,
            )
            .await
        }
    }

    /// Adds WASI 0.3's `wasi:http/types` (wasmtime's) and `client` (wasmtime's,
    /// taking relative URLs) to `linker`.
    pub fn add_p3_to_linker<T: WasiHttpView + 'static>(
        linker: &mut wasmtime::component::Linker<T>,
    ) -> wasmtime::Result<()> {
        use wasmtime_wasi_http::p3::bindings::http::{client, types};
        client::add_to_linker::<T, P3>(linker, T::http)?;
        types::add_to_linker::<T, WasiHttp>(linker, T::http)
    }
}

/// The `content-length` a response declares.
fn declared_length<B>(res: &http::Response<B>) -> Option<u64> {
    res.headers()
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// `body`, failing with `HTTP-response-body-size` once more than `max` bytes arrive.
fn limit_body(
    body: impl http_body::Body<Data = Bytes, Error = HttpError> + Send + 'static,
    max: u64,
    component: Arc<str>,
) -> WasiBody {
    SizeLimited {
        inner: Box::pin(body),
        seen: 0,
        max,
        component,
    }
    .boxed_unsync()
}

/// A response body cut off with an error past `max` bytes.
struct SizeLimited<B> {
    inner: Pin<Box<B>>,
    seen: u64,
    max: u64,
    component: Arc<str>,
}

impl<B: http_body::Body<Data = Bytes, Error = HttpError>> http_body::Body for SizeLimited<B> {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        let frame = std::task::ready!(this.inner.as_mut().poll_frame(cx));
        if let Some(Ok(frame)) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.seen = this.seen.saturating_add(data.len() as u64);
            if this.seen > this.max {
                tracing::warn!(component = %this.component, "outbound HTTP response body cut after {} bytes: over the `max_response_size` of {} bytes", this.seen, this.max);
                return std::task::Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                    this.seen,
                )))));
            }
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves `host` and returns the addresses the grant allows as addresses,
/// in the resolver's order (denied when there are none).
async fn checked_addresses(
    component: &str,
    allowed: &AllowedHosts,
    target: &OutboundTarget,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, HttpError> {
    let addrs: Vec<SocketAddr> = match target.ip() {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::net::lookup_host((host, port))
            .await
            .map_err(|err| {
                tracing::warn!(component, "outbound HTTP: cannot resolve `{host}`: {err}");
                HttpError::DnsError {
                    rcode: Some("address not available".into()),
                    info_code: None,
                }
            })?
            .collect(),
    };
    let mut denial = None;
    let mut checked = Vec::new();
    for addr in addrs {
        match allowed.allows_resolved(target, addr.ip()) {
            Decision::Allowed => checked.push(addr),
            Decision::Denied(d) => denial = Some(d),
        }
    }
    if !checked.is_empty() {
        return Ok(checked);
    }
    match denial {
        Some(denial) => {
            tracing::warn!(component, "outbound HTTP request denied: {denial}");
            // As Spin answers for its `block_networks`.
            if let skiff_outbound_networking::DenialReason::Blocked { .. } = denial.reason() {
                return Err(HttpError::DestinationIpProhibited);
            }
        }
        None => tracing::warn!(component, "outbound HTTP: `{host}` resolved to no address"),
    }
    Err(HttpError::HttpRequestDenied)
}

/// The TLS an HTTPS request of `component` to `host:port` is sent with: the
/// configuration of its `[[client_tls]]` entry, or the default.
fn tls_for(
    component: &str,
    tls: &ClientTls,
    host: &str,
    port: u16,
) -> Result<crate::send::Tls, HttpError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    // A DNS name, or an IP address literal.
    let name = ServerName::try_from(bare.to_string()).map_err(|err| {
        tracing::warn!(
            component,
            "outbound HTTPS request refused: `{host}` is not a valid TLS server name: {err}"
        );
        HttpError::HttpRequestUriInvalid
    })?;
    Ok(match tls.entry_for(component, bare, port) {
        Some(entry) => crate::send::Tls {
            name,
            config: entry.config.clone(),
            entry: Some(entry.summary.clone()),
        },
        None => crate::send::Tls {
            name,
            config: skiff_outbound_networking::https_client_config(),
            entry: None,
        },
    })
}

/// The guest's timeouts, each capped by the operator's (and the operator's where
/// the guest set none; wasmtime's own default connect timeout is 600 s).
fn capped_timeouts(options: Option<RequestOptions>, limits: &OutboundHttpLimits) -> RequestOptions {
    let o = options.unwrap_or_default();
    let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
    RequestOptions {
        connect_timeout: cap(o.connect_timeout, limits.connect_timeout),
        first_byte_timeout: cap(o.first_byte_timeout, limits.first_byte_timeout),
        between_bytes_timeout: cap(o.between_bytes_timeout, limits.between_bytes_timeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// wasmtime-wasi-http's own hooks, for comparison.
    struct Defaults;
    impl WasiHttpHooks for Defaults {}

    /// The hooks forbid exactly what wasmtime-wasi-http's defaults forbid,
    /// and every filter they hand out is the one shared filter.
    #[test]
    fn forbidden_headers_are_wasmtimes_defaults_without_an_allocation_each() {
        let mut ours = OutboundHttp::new(Arc::new(crate::InstanceConfig::new("headers")));
        let mut theirs = Defaults;
        let names = DEFAULT_FORBIDDEN_HEADERS.into_iter().chain(
            [
                "content-type",
                "content-length",
                "authorization",
                "spin-full-url",
                "x-custom",
            ]
            .map(http::HeaderName::from_static),
        );
        let (ours_filter, theirs_filter) = (
            ours.forbidden_header_filter(),
            theirs.forbidden_header_filter(),
        );
        let mut forbidden = 0;
        for name in names {
            let expected = theirs.is_forbidden_header(&name);
            assert_eq!(ours.is_forbidden_header(&name), expected, "{name}");
            assert_eq!(ours_filter(&name), theirs_filter(&name), "{name}");
            forbidden += usize::from(expected);
        }
        assert_eq!(forbidden, DEFAULT_FORBIDDEN_HEADERS.len());
        assert!(Arc::ptr_eq(&ours_filter, &ours.forbidden_header_filter()));
    }
}
