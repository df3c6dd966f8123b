//! A bearer-token server for `docker-registry`'s `auth: token:` mode, run inside
//! the test process (hyper on a loopback port).
//!
//! It does what a real token service (Docker Hub's, Harbor's, GitLab's) does
//! for the distribution token protocol: it checks the client's HTTP basic
//! credentials, grants each requested `repository:NAME:ACTIONS` scope only the
//! actions that user may have, and answers with an ES256 JWT the registry
//! verifies against its `rootcertbundle`. The signing key and its self-signed
//! certificate come from `openssl` (Debian's `openssl`, which `.ci/run`
//! installs); the certificate travels in the token's `x5c` header and is also
//! the registry's root bundle, so the registry trusts exactly this server.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The `iss` claim the tokens carry and the registry is configured to trust.
pub const ISSUER: &str = "skiff-test-token-issuer";
/// The `aud` claim: the registry's `service` name.
pub const SERVICE: &str = "skiff-test-registry";

/// A user the token server knows, and the actions it may be granted on any repository.
#[derive(Clone, Debug)]
pub struct TokenUser {
    /// The basic-auth user name.
    pub name: String,
    /// The basic-auth password.
    pub password: String,
    /// The actions this user may be granted (`pull`, `push`).
    pub actions: Vec<String>,
}

impl TokenUser {
    /// A user allowed `actions` on every repository.
    pub fn new(name: &str, password: &str, actions: &[&str]) -> Self {
        TokenUser {
            name: name.into(),
            password: password.into(),
            actions: actions.iter().map(|a| a.to_string()).collect(),
        }
    }
}

/// One token handed out: to whom, and the `type:name:actions` scopes it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// The user it was issued to.
    pub user: String,
    /// The granted scopes, each `repository:NAME:ACTION,ACTION`.
    pub scopes: Vec<String>,
}

struct State {
    users: Vec<TokenUser>,
    key: EncodingKey,
    x5c: String,
    issued: Mutex<Vec<Issued>>,
    refused: Mutex<usize>,
}

/// The running token server; stopped on drop.
pub struct TokenServer {
    addr: SocketAddr,
    cert: PathBuf,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokenServer {
    /// Creates a signing key and certificate in `dir` and serves tokens for `users`.
    pub fn start(dir: &Path, users: Vec<TokenUser>) -> Result<Self> {
        let (key, cert) = signing_key(dir)?;
        let key_der = pem_body_base64(&std::fs::read_to_string(&key)?, "PRIVATE KEY")?;
        let x5c = pem_body_base64(&std::fs::read_to_string(&cert)?, "CERTIFICATE")?;
        let state = Arc::new(State {
            users,
            key: EncodingKey::from_ec_der(&STANDARD.decode(key_der)?),
            x5c,
            issued: Mutex::new(Vec::new()),
            refused: Mutex::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (shutdown, mut stop) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("oci-token-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)
                        .expect("a tokio listener from the bound socket");
                    loop {
                        let stream = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok((stream, _)) => stream,
                                Err(_) => continue,
                            },
                            _ = &mut stop => break,
                        };
                        let state = serving.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |req| {
                                let state = state.clone();
                                async move { Ok::<_, Infallible>(handle(&state, &req)) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                })
            })?;
        Ok(TokenServer {
            addr,
            cert,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The token endpoint: the registry's `realm`.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The certificate the tokens are signed under: the registry's `rootcertbundle`.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// Every token issued so far, in order.
    pub fn issued(&self) -> Vec<Issued> {
        self.state.issued.lock().expect("issued lock").clone()
    }

    /// How many token requests were refused (bad or missing credentials).
    pub fn refused(&self) -> usize {
        *self.state.refused.lock().expect("refused lock")
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// An ECDSA P-256 key (PKCS#8) and a self-signed certificate for it, made by `openssl`.
fn signing_key(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = dir.join("token-key.pem");
    let cert = dir.join("token-cert.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={ISSUER}"),
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            anyhow!(
                "could not run `openssl` ({e}); the token-auth tests need it: install it with \
                 `apt-get install -y openssl` (.ci/run does)"
            )
        })?;
    ensure!(
        out.status.success(),
        "openssl could not make the token signing key: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((key, cert))
}

/// The base64 text between `-----BEGIN {label}-----` and its END line, on one line.
fn pem_body_base64(pem: &str, label: &str) -> Result<String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = pem
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .with_context(|| format!("no {label} block in the PEM openssl wrote"))?;
    Ok(body.split_whitespace().collect())
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: String) -> Reply {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// `GET /token?service=…&scope=repository:NAME:ACTIONS[&scope=…]` with basic auth.
fn handle(state: &State, req: &Request<hyper::body::Incoming>) -> Reply {
    if req.uri().path() != "/token" {
        return reply(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.into());
    }
    let Some(user) = authenticate(state, req) else {
        *state.refused.lock().expect("refused lock") += 1;
        return reply(
            StatusCode::UNAUTHORIZED,
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"wrong user name or password"}]}"#
                .into(),
        );
    };
    let query = req.uri().query().unwrap_or("");
    let params: Vec<(String, String)> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    if let Some((_, service)) = params.iter().find(|(k, _)| k == "service")
        && service != SERVICE
    {
        return reply(
            StatusCode::BAD_REQUEST,
            format!(r#"{{"error":"unknown service `{service}`"}}"#),
        );
    }
    // Grant each requested scope the actions the user has, as real token
    // servers do: a request for more gets a token for less, and the registry
    // refuses what the token lacks.
    let mut access = Vec::new();
    let mut scopes = Vec::new();
    for (_, scope) in params.iter().filter(|(k, _)| k == "scope") {
        for one in scope.split(' ') {
            let mut parts = one.splitn(2, ':');
            let (Some(kind), Some(rest)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|a| user.actions.iter().any(|allowed| allowed == a))
                .collect();
            scopes.push(format!("{kind}:{name}:{}", granted.join(",")));
            access.push(serde_json::json!({ "type": kind, "name": name, "actions": granted }));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.name,
        "aud": SERVICE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("skiff-test-{now}-{}", scopes.len()),
        "access": access,
    });
    let mut header = Header::new(Algorithm::ES256);
    header.x5c = Some(vec![state.x5c.clone()]);
    let token = match jsonwebtoken::encode(&header, &claims, &state.key) {
        Ok(token) => token,
        Err(e) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(r#"{{"error":"could not sign the token: {e}"}}"#),
            );
        }
    };
    state.issued.lock().expect("issued lock").push(Issued {
        user: user.name.clone(),
        scopes,
    });
    reply(
        StatusCode::OK,
        serde_json::json!({ "token": token, "access_token": token, "expires_in": 300 }).to_string(),
    )
}

/// The user whose basic credentials the request carries, if they are right.
fn authenticate<'a>(
    state: &'a State,
    req: &Request<hyper::body::Incoming>,
) -> Option<&'a TokenUser> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (name, password) = decoded.split_once(':')?;
    state
        .users
        .iter()
        .find(|u| u.name == name && u.password == password)
}

/// `%XX` and `+` decoding for query values (scopes arrive as `repository%3Ahello%3Apull`).
fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The registry's `auth:` section for this token server.
pub fn registry_auth_config(server: &TokenServer) -> String {
    format!(
        "auth:\n  token:\n    realm: {}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
        server.realm(),
        server.cert().display()
    )
}
