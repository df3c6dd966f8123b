//! Maps a request path to the component that serves it.
//!
//! Rules (Spin's): an exact route beats any wildcard; among wildcards the longest
//! prefix wins; `/...` catches everything no other route takes; `:name` segments
//! match one path segment; a private route is never reachable from outside.
//! Literal routes are found by hash lookups (exact path, then each ancestor prefix
//! from the longest), so routing cost grows with path depth, not with route count.

use std::collections::HashMap;

use skiff_manifest::Route;

use crate::spin_headers::RouteHeaders;

/// The outcome of routing one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    /// Index of the component (as given to [`Router::new`]).
    pub component: usize,
    /// The route that matched, as written in the manifest.
    pub route: &'a Route,
    /// The part of the path the route matched (the prefix, for wildcards).
    pub matched: String,
    /// The rest of the path below a wildcard's prefix (`""` for exact routes).
    pub path_info: String,
    /// `:name` parameters, in order.
    pub params: Vec<(String, String)>,
    /// Spin's header values for this route, built with the router.
    pub spin: &'a RouteHeaders,
}

/// `:name` parameters bound by a route.
type Params = Vec<(String, String)>;

#[derive(Debug)]
struct Pattern {
    route: Route,
    spin: RouteHeaders,
    component: usize,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A routing table built once at load.
#[derive(Debug, Default)]
pub struct Router {
    patterns: Vec<Pattern>,
    exact: HashMap<String, usize>,
    prefixes: HashMap<String, usize>,
    dynamic: Vec<usize>,
}

impl Router {
    /// Builds the table from `(route, component index)` pairs. Duplicate routes
    /// were already rejected by the manifest loader; if one slips through, the first wins.
    pub fn new(routes: impl IntoIterator<Item = (Route, usize)>) -> Self {
        let mut router = Router::default();
        for (route, component) in routes {
            let (path, wildcard) = match &route {
                Route::Exact(p) => (p.as_str(), false),
                Route::Wildcard(p) => (p.as_str(), true),
                Route::Private => continue,
            };
            let segments: Vec<Segment> = split(path)
                .map(|s| match s.strip_prefix(':') {
                    Some(name) => Segment::Param(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                })
                .collect();
            let index = router.patterns.len();
            let literal = segments.iter().all(|s| matches!(s, Segment::Literal(_)));
            let key = normalize(path);
            match (literal, wildcard) {
                (true, false) => {
                    router.exact.entry(key).or_insert(index);
                }
                (true, true) => {
                    router.prefixes.entry(key).or_insert(index);
                }
                (false, _) => router.dynamic.push(index),
            }
            router.patterns.push(Pattern {
                spin: RouteHeaders::new(&route),
                route,
                component,
                segments,
                wildcard,
            });
        }
        router
    }

    /// Every reachable route with its component index, for the start-up banner.
    pub fn routes(&self) -> impl Iterator<Item = (&Route, usize)> {
        self.patterns.iter().map(|p| (&p.route, p.component))
    }

    /// Finds the component for `path` (the URL path, without query).
    pub fn route(&self, raw: &str) -> Option<RouteMatch<'_>> {
        let path = normalize(raw);
        if let Some(&i) = self.exact.get(&path) {
            return Some(self.matched(i, path, String::new(), Vec::new()));
        }
        // Parameterised exact routes: the one with the most literal segments wins.
        let segs: Vec<&str> = split(&path).collect();
        let best_dynamic_exact = self
            .dynamic
            .iter()
            .filter(|&&i| {
                !self.patterns[i].wildcard && self.patterns[i].segments.len() == segs.len()
            })
            .filter_map(|&i| self.bind(i, &segs).map(|params| (i, params)))
            .max_by_key(|(i, _)| literal_count(&self.patterns[*i]));
        if let Some((i, params)) = best_dynamic_exact {
            return Some(self.matched(i, path, String::new(), params));
        }
        // Wildcards: the longest prefix wins; literal beats parameterised at equal length.
        let mut best: Option<(usize, usize, Params)> = None; // (depth, index, params)
        for depth in (0..=segs.len()).rev() {
            let prefix = join(&segs[..depth]);
            if let Some(&i) = self.prefixes.get(&prefix) {
                best = Some((depth, i, Vec::new()));
                break;
            }
        }
        for &i in &self.dynamic {
            let p = &self.patterns[i];
            if !p.wildcard || p.segments.len() > segs.len() {
                continue;
            }
            let depth = p.segments.len();
            if best.as_ref().is_some_and(|(d, _, _)| *d >= depth) {
                continue;
            }
            if let Some(params) = self.bind(i, &segs[..depth]) {
                best = Some((depth, i, params));
            }
        }
        let (depth, i, params) = best?;
        let matched = join(&segs[..depth]);
        let rest = join(&segs[depth..]);
        // Keep a trailing slash the client sent below the prefix.
        let path_info = if raw.ends_with('/') && raw.len() > 1 && !rest.ends_with('/') {
            format!("{rest}/")
        } else {
            rest
        };
        Some(self.matched(i, matched, path_info, params))
    }

    fn matched(
        &self,
        i: usize,
        matched: String,
        path_info: String,
        params: Vec<(String, String)>,
    ) -> RouteMatch<'_> {
        let p = &self.patterns[i];
        RouteMatch {
            component: p.component,
            route: &p.route,
            matched,
            path_info,
            params,
            spin: &p.spin,
        }
    }

    fn bind(&self, i: usize, segs: &[&str]) -> Option<Vec<(String, String)>> {
        let p = &self.patterns[i];
        let mut params = Vec::new();
        for (pat, seg) in p.segments.iter().zip(segs) {
            match pat {
                Segment::Literal(l) if l == seg => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), seg.to_string())),
            }
        }
        Some(params)
    }
}

fn literal_count(p: &Pattern) -> usize {
    p.segments
        .iter()
        .filter(|s| matches!(s, Segment::Literal(_)))
        .count()
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn join(segs: &[&str]) -> String {
    let mut out = String::new();
    for s in segs {
        out.push('/');
        out.push_str(s);
    }
    out
}

/// `/a//b/` → `/a/b`; `/` → `` (the catch-all's empty prefix).
fn normalize(path: &str) -> String {
    join(&split(path).collect::<Vec<_>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new([
            (Route::Exact("/".into()), 0),
            (Route::Exact("/api/health".into()), 1),
            (Route::Wildcard("/api".into()), 2),
            (Route::Wildcard("/api/v2".into()), 3),
            (Route::Wildcard("".into()), 4),
            (Route::Exact("/users/:id".into()), 5),
            (Route::Wildcard("/files/:bucket".into()), 6),
            (Route::Private, 7),
        ])
    }

    fn at(path: &str) -> (usize, String) {
        let r = router();
        let m = r.route(path).expect("routed");
        (m.component, m.path_info)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        assert_eq!(at("/api/health"), (1, "".into()));
        assert_eq!(at("/api/healthz"), (2, "/healthz".into()));
        assert_eq!(at("/api"), (2, "".into()));
        assert_eq!(at("/api/"), (2, "/".into()));
        assert_eq!(at("/api/v2/x/y"), (3, "/x/y".into()));
        assert_eq!(at("/apix"), (4, "/apix".into()));
        assert_eq!(at("/"), (0, "".into()));
        assert_eq!(at("/users/42"), (5, "".into()));
        assert_eq!(at("/users/42/more"), (4, "/users/42/more".into()));
        assert_eq!(at("/files/b1/a/b"), (6, "/a/b".into()));
    }

    #[test]
    fn params_are_bound() {
        let r = router();
        let m = r.route("/users/ada").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), "ada".to_string())]);
    }

    #[test]
    fn no_catch_all_means_404() {
        let r = Router::new([
            (Route::Exact("/a".into()), 0),
            (Route::Wildcard("/b".into()), 1),
        ]);
        assert!(r.route("/c").is_none());
        assert!(r.route("/").is_none());
        assert_eq!(r.route("/b/c").unwrap().component, 1);
        assert!(r.route("/a/b").is_none());
    }
}
