//! Requests from the app's components to the app itself, served in-process:
//! `http://ID.spin.internal` (service chaining) and `http://self.alt`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock, Weak};

use skiff_host::outbound::{LocalHttp, LocalResponse};
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::WasiBody;

use crate::HttpApp;

/// The client address chained requests carry (`spin-client-addr`).
const LOCAL_CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A handle on the app its components call back into; set once the app is built.
/// Weak, so instances alive during shutdown do not keep the app alive.
#[derive(Default)]
pub(crate) struct LocalApp {
    app: OnceLock<Weak<HttpApp>>,
}

impl LocalApp {
    pub(crate) fn set(&self, app: &Arc<HttpApp>) {
        let _ = self.app.set(Arc::downgrade(app));
    }
}

impl LocalHttp for LocalApp {
    fn call(&self, component: Option<&str>, mut request: http::Request<WasiBody>) -> LocalResponse {
        // Only the server sets the client certificate header, for what a
        // client presented; a guest calling within the app cannot claim one.
        request.headers_mut().remove(crate::tls::XFCC);
        let app = self.app.get().and_then(Weak::upgrade);
        let component = component.map(str::to_string);
        Box::pin(async move {
            let Some(app) = app else {
                return Err(HttpError::InternalError(Some(
                    "the app is shutting down".to_string(),
                )));
            };
            match component {
                None => Ok(app
                    .route_and_handle(request, LOCAL_CLIENT, crate::Drive::Spawn)
                    .await),
                Some(id) => match app.handle_component(&id, request, LOCAL_CLIENT).await {
                    Some(response) => Ok(response),
                    None => {
                        tracing::warn!("service chaining: the app has no HTTP component `{id}`");
                        Err(HttpError::DestinationNotFound)
                    }
                },
            }
        })
    }
}
