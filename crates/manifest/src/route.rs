//! Parsing `route = "…"` strings into [`Route`]s.

use crate::model::Route;

/// Parses an HTTP route: `/exact`, `/with/:param`, `/prefix/...` or `/...`.
pub(crate) fn parse_route(route: &str) -> Result<Route, RouteError> {
    if route.is_empty() {
        return Err(
            RouteError::new("route must not be empty").hint("use \"/...\" to match every path")
        );
    }
    if let Some(c) = route.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(RouteError::new(format!(
            "route `{route}` contains whitespace or a control character ({c:?})"
        ))
        .hint("percent-encode it, e.g. `%20` for a space"));
    }
    if let Some(c) = route.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(RouteError::new(format!(
            "route `{route}` contains `{c}`; routes match paths only, not queries or fragments"
        )));
    }
    if !route.starts_with('/') {
        return Err(
            RouteError::new(format!("route `{route}` must start with `/`"))
                .hint(format!("did you mean \"/{route}\"?")),
        );
    }
    let (prefix, wildcard) = match route.strip_suffix("/...") {
        Some(prefix) => (prefix, true),
        None => (route, false),
    };
    // Segments after the leading `/`; an exact route may end with `/`.
    let segments: Vec<&str> = match prefix.strip_prefix('/') {
        Some(rest) => rest.split('/').collect(),
        None => Vec::new(), // the catch-all `/...`
    };
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        if segment.contains("...") {
            return Err(RouteError::new(format!(
                "route `{route}`: `...` is only allowed as the final segment (`/prefix/...`)"
            )));
        }
        if segment.is_empty() && (wildcard || i != last) {
            return Err(RouteError::new(format!(
                "route `{route}` has an empty segment (`//`)"
            )));
        }
        if matches!(*segment, "." | "..") {
            return Err(RouteError::new(format!(
                "route `{route}` contains a `{segment}` segment"
            )));
        }
        if let Some(name) = segment.strip_prefix(':')
            && (name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(RouteError::new(format!(
                "route `{route}`: parameter segment `{segment}` needs a name of letters, digits, `_` or `-` after `:`"
            )));
        }
    }
    Ok(if wildcard {
        Route::Wildcard(prefix.to_string())
    } else {
        Route::Exact(route.to_string())
    })
}

/// A canonical form in which routes that match the same requests are equal
/// (parameter names do not matter: `/a/:id` and `/a/:name` collide).
pub(crate) fn match_key(route: &Route) -> Option<String> {
    let erase = |path: &str| {
        path.split('/')
            .map(|s| if s.starts_with(':') { ":" } else { s })
            .collect::<Vec<_>>()
            .join("/")
    };
    match route {
        Route::Exact(p) => Some(erase(p)),
        Route::Wildcard(p) => Some(format!("{}/...", erase(p))),
        Route::Private => None,
    }
}

/// Why a route was rejected.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RouteError {
    pub message: String,
    pub hint: Option<String>,
}

impl RouteError {
    fn new(message: impl Into<String>) -> Self {
        RouteError {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Route {
        parse_route(s).unwrap_or_else(|e| panic!("{s}: {e:?}"))
    }

    fn err(s: &str) -> String {
        parse_route(s).unwrap_err().message
    }

    #[test]
    fn valid_routes() {
        assert_eq!(ok("/"), Route::Exact("/".into()));
        assert_eq!(ok("/hello"), Route::Exact("/hello".into()));
        assert_eq!(ok("/hello/"), Route::Exact("/hello/".into()));
        assert_eq!(ok("/users/:id"), Route::Exact("/users/:id".into()));
        assert_eq!(ok("/..."), Route::Wildcard("".into()));
        assert_eq!(ok("/api/..."), Route::Wildcard("/api".into()));
        assert_eq!(ok("/users/:id/..."), Route::Wildcard("/users/:id".into()));
        assert_eq!(ok("/a%20b"), Route::Exact("/a%20b".into()));
    }

    #[test]
    fn invalid_routes() {
        assert_eq!(err(""), "route must not be empty");
        assert_eq!(err("api"), "route `api` must start with `/`");
        assert_eq!(
            parse_route("api").unwrap_err().hint.as_deref(),
            Some("did you mean \"/api\"?")
        );
        assert_eq!(err("..."), "route `...` must start with `/`");
        assert_eq!(
            err("/a b"),
            "route `/a b` contains whitespace or a control character (' ')"
        );
        assert_eq!(
            err("/a?b=1"),
            "route `/a?b=1` contains `?`; routes match paths only, not queries or fragments"
        );
        assert_eq!(
            err("/a#b"),
            "route `/a#b` contains `#`; routes match paths only, not queries or fragments"
        );
        assert_eq!(
            err("/.../a"),
            "route `/.../a`: `...` is only allowed as the final segment (`/prefix/...`)"
        );
        assert_eq!(
            err("/a..."),
            "route `/a...`: `...` is only allowed as the final segment (`/prefix/...`)"
        );
        assert_eq!(err("/a//b"), "route `/a//b` has an empty segment (`//`)");
        assert_eq!(err("//..."), "route `//...` has an empty segment (`//`)");
        assert_eq!(err("/a/../b"), "route `/a/../b` contains a `..` segment");
        assert_eq!(
            err("/a/:"),
            "route `/a/:`: parameter segment `:` needs a name of letters, digits, `_` or `-` after `:`"
        );
    }

    #[test]
    fn match_keys_ignore_parameter_names() {
        assert_eq!(match_key(&ok("/a/:id")), match_key(&ok("/a/:name")));
        assert_ne!(match_key(&ok("/a")), match_key(&ok("/a/...")));
        assert_eq!(match_key(&ok("/...")), Some("/...".into()));
        assert_eq!(match_key(&Route::Private), None);
    }
}
