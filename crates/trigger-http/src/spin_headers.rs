//! The request headers Spin's HTTP trigger sets, so Spin SDK routers and apps that
//! read them behave as under Spin.
//!
//! | header | value |
//! |---|---|
//! | `spin-full-url` | `http://HOST/path?query` (`https://` over TLS), HOST from the `Host` header (or the HTTP/2 authority) |
//! | `spin-path-info` | the path below a wildcard route's prefix (`""` for exact routes) |
//! | `spin-matched-route` | the route pattern with the base (`/users/...`); the base is always `/` |
//! | `spin-raw-component-route` | the route as written in the manifest (`/users/...`) |
//! | `spin-component-route` | the route without its wildcard (`/users`; `""` for `/...`) |
//! | `spin-base-path` | `/` |
//! | `spin-client-addr` | the client's `IP:port` |
//! | `spin-path-match-NAME` | the segment bound to each `:NAME` in the route |
//!
//! Headers of these names that the client sent are replaced, so a client cannot
//! forge them.

use std::net::SocketAddr;

use http::header::{HOST, HeaderName, HeaderValue};
use skiff_manifest::Route;

use crate::router::RouteMatch;

const FULL_URL: HeaderName = HeaderName::from_static("spin-full-url");
const PATH_INFO: HeaderName = HeaderName::from_static("spin-path-info");
const MATCHED_ROUTE: HeaderName = HeaderName::from_static("spin-matched-route");
const RAW_COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-raw-component-route");
const COMPONENT_ROUTE: HeaderName = HeaderName::from_static("spin-component-route");
const BASE_PATH: HeaderName = HeaderName::from_static("spin-base-path");
const CLIENT_ADDR: HeaderName = HeaderName::from_static("spin-client-addr");
const PATH_MATCH_PREFIX: &str = "spin-path-match-";

/// The header values a route always gives, built once when the router is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteHeaders {
    /// `spin-raw-component-route` and `spin-matched-route` (the base is `/`).
    raw: Option<HeaderValue>,
    /// `spin-component-route`.
    component: Option<HeaderValue>,
}

impl RouteHeaders {
    /// The route as the manifest writes it (`/api/...`, `/users/:id`), as
    /// `spin-raw-component-route` carries it; empty for a private route.
    pub fn raw_route(&self) -> &str {
        self.raw
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The values for `route` (none for a private route, which only chaining reaches).
    pub fn new(route: &Route) -> Self {
        let (raw, component) = match route {
            Route::Exact(p) => (p.clone(), p.clone()),
            Route::Wildcard(p) => (format!("{p}/..."), p.clone()),
            Route::Private => (String::new(), String::new()),
        };
        RouteHeaders {
            raw: HeaderValue::try_from(raw).ok(),
            component: HeaderValue::try_from(component).ok(),
        }
    }
}

/// Sets Spin's routing headers on `req` for the route `m` matched.
pub(crate) fn set<B>(req: &mut http::Request<B>, m: &RouteMatch<'_>, client: SocketAddr) {
    let full_url = full_url(req);
    let headers = req.headers_mut();
    // Drop any client-sent `spin-path-match-*` first: only the route may set them.
    if headers
        .keys()
        .any(|k| k.as_str().starts_with(PATH_MATCH_PREFIX))
    {
        let forged: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with(PATH_MATCH_PREFIX))
            .cloned()
            .collect();
        for name in forged {
            headers.remove(name);
        }
    }
    // Grow the map once, not once per insert.
    headers.reserve(7 + m.params.len());
    put(headers, FULL_URL, full_url);
    put(headers, PATH_INFO, m.path_info.clone());
    put_value(headers, MATCHED_ROUTE, m.spin.raw.clone());
    put_value(headers, RAW_COMPONENT_ROUTE, m.spin.raw.clone());
    put_value(headers, COMPONENT_ROUTE, m.spin.component.clone());
    headers.insert(BASE_PATH, HeaderValue::from_static("/"));
    headers.insert(CLIENT_ADDR, client_addr(client));
    for (name, value) in &m.params {
        if let Ok(name) = HeaderName::from_bytes(format!("{PATH_MATCH_PREFIX}{name}").as_bytes()) {
            put(headers, name, value.clone());
        }
    }
}

fn put_value(headers: &mut http::HeaderMap, name: HeaderName, value: Option<HeaderValue>) {
    match value {
        Some(value) => {
            headers.insert(name, value);
        }
        None => {
            headers.remove(name);
        }
    }
}

/// Not representable (a path segment with control bytes): left unset rather
/// than passing on what the client sent.
fn put(headers: &mut http::HeaderMap, name: HeaderName, value: String) {
    put_value(headers, name, HeaderValue::try_from(value).ok());
}

/// `IP:port` as `SocketAddr`'s `Display` writes it; an IPv4 address without
/// the formatting machinery, which cost ~1.2k instructions of every request.
fn client_addr(addr: SocketAddr) -> HeaderValue {
    let SocketAddr::V4(v4) = addr else {
        return HeaderValue::try_from(addr.to_string()).expect("an IPv6 socket address is ASCII");
    };
    let mut text = Vec::with_capacity(21); // "255.255.255.255:65535"
    let mut digits = itoa::Buffer::new();
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            text.push(b'.');
        }
        text.extend_from_slice(digits.format(octet).as_bytes());
    }
    text.push(b':');
    text.extend_from_slice(digits.format(v4.port()).as_bytes());
    HeaderValue::from_maybe_shared(bytes::Bytes::from(text)).expect("digits, dots and a colon")
}

fn full_url<B>(req: &http::Request<B>) -> String {
    let uri = req.uri();
    let host = uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(HOST).and_then(|h| h.to_str().ok()))
        .unwrap_or("localhost");
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let scheme = match uri.scheme() == Some(&http::uri::Scheme::HTTPS) {
        true => "https://",
        false => "http://",
    };
    let mut url = String::with_capacity(scheme.len() + host.len() + path.len());
    url.push_str(scheme);
    url.push_str(host);
    url.push_str(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Router;

    #[test]
    fn client_addr_matches_display() {
        for addr in [
            "0.0.0.0:0",
            "127.0.0.1:3000",
            "10.20.3.4:65535",
            "255.255.255.255:9",
            "192.168.100.200:10101",
            "[::1]:8080",
            "[fe80::1:2]:1",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(client_addr(addr), addr.to_string().as_str(), "{addr}");
        }
    }

    fn headers_for(route: Route, uri: &str) -> http::HeaderMap {
        let router = Router::new([(route, 0)]);
        let mut req = http::Request::builder()
            .uri(uri)
            .header(HOST, "example.com:8080")
            .header("spin-path-match-forged", "x")
            .header("spin-client-addr", "1.2.3.4:5")
            .body(())
            .unwrap();
        let path = req.uri().path().to_string();
        let m = router.route(&path).expect("route matches");
        set(&mut req, &m, "127.0.0.1:53152".parse().unwrap());
        req.headers().clone()
    }

    fn get<'a>(h: &'a http::HeaderMap, name: &str) -> &'a str {
        h.get(name).unwrap().to_str().unwrap()
    }

    #[test]
    fn wildcard_route() {
        let h = headers_for(Route::Wildcard("/users".into()), "/users/1/edit?theme=pink");
        assert_eq!(
            get(&h, "spin-full-url"),
            "http://example.com:8080/users/1/edit?theme=pink"
        );
        assert_eq!(get(&h, "spin-path-info"), "/1/edit");
        assert_eq!(get(&h, "spin-matched-route"), "/users/...");
        assert_eq!(get(&h, "spin-raw-component-route"), "/users/...");
        assert_eq!(get(&h, "spin-component-route"), "/users");
        assert_eq!(get(&h, "spin-base-path"), "/");
        assert_eq!(get(&h, "spin-client-addr"), "127.0.0.1:53152");
        assert!(h.get("spin-path-match-forged").is_none());
    }

    #[test]
    fn exact_route() {
        let h = headers_for(Route::Exact("/hello".into()), "/hello");
        assert_eq!(get(&h, "spin-path-info"), "");
        assert_eq!(get(&h, "spin-matched-route"), "/hello");
        assert_eq!(get(&h, "spin-component-route"), "/hello");
    }

    #[test]
    fn catch_all_route() {
        let h = headers_for(Route::Wildcard(String::new()), "/a/b");
        assert_eq!(get(&h, "spin-path-info"), "/a/b");
        assert_eq!(get(&h, "spin-matched-route"), "/...");
        assert_eq!(get(&h, "spin-component-route"), "");
    }

    #[test]
    fn named_segments() {
        let h = headers_for(Route::Wildcard("/users/:id".into()), "/users/42/posts");
        assert_eq!(get(&h, "spin-path-match-id"), "42");
        assert_eq!(get(&h, "spin-path-info"), "/posts");
        assert_eq!(get(&h, "spin-raw-component-route"), "/users/:id/...");
    }
}
