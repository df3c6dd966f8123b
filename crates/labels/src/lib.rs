//! The label table Skiff's capability managers share (key-value stores,
//! SQLite databases, blob stores, message brokers): each label named by the runtime config
//! maps to the backend built from its section, and the whole map can be
//! replaced while guests run.
//!
//! - [`LiveLabels::apply`] builds every section that is new or changed
//!   first, then swaps the map at once; if one build fails, nothing changes.
//!   [`LiveLabels::prepare`] builds without swapping, so that a runtime
//!   config's tables (one per capability) are all built before any is
//!   swapped in ([`Prepared::commit`]).
//!   A section that did not change keeps its backend (a memory store its
//!   data, an open database its connection).
//! - [`LiveLabels::replace`] sets one label's backend, built outside the
//!   runtime config.
//! - [`LiveLabels::get`] is a lock-free read: lookups after a swap see the
//!   new backend, while backends already handed out live on until dropped.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use skiff_labels::LiveLabels;
//!
//! let labels: LiveLabels<String, u32> = LiveLabels::new();
//! let sections = [("default".to_string(), "memory".to_string())];
//! labels
//!     .apply(sections.iter().map(|(l, s)| (l, s)), |_, _| async { Ok::<_, ()>(7) })
//!     .await
//!     .unwrap();
//! assert_eq!(labels.get("default"), Some(7));
//! # }
//! ```
#![deny(missing_docs)]

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;

/// A label's section (`None` when set by [`LiveLabels::replace`]) and the
/// backend built from it.
struct Entry<C, B> {
    section: Option<C>,
    backend: B,
}

/// Labels → backends, replaceable while guests run (see the crate docs).
/// `C` is a runtime-config section, `B` the backend built from it (an
/// `Arc` of some store, cheap to clone).
pub struct LiveLabels<C, B> {
    map: ArcSwap<HashMap<String, Arc<Entry<C, B>>>>,
}

impl<C, B> Default for LiveLabels<C, B> {
    fn default() -> Self {
        LiveLabels {
            map: ArcSwap::from_pointee(HashMap::new()),
        }
    }
}

impl<C: PartialEq + Clone, B: Clone> LiveLabels<C, B> {
    /// A table with no labels.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table of backends already built from their sections, as
    /// [`apply`](Self::apply) would make it, for backends that are cheap to
    /// make and build nothing until first used.
    pub fn with(entries: impl IntoIterator<Item = (String, C, B)>) -> Self {
        let map = entries
            .into_iter()
            .map(|(label, section, backend)| {
                let entry = Entry {
                    section: Some(section),
                    backend,
                };
                (label, Arc::new(entry))
            })
            .collect();
        LiveLabels {
            map: ArcSwap::from_pointee(map),
        }
    }

    /// The backend of `label`, if it has one.
    pub fn get(&self, label: &str) -> Option<B> {
        self.map
            .load()
            .get(label)
            .map(|entry| entry.backend.clone())
    }

    /// The labels, sorted.
    pub fn labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.map.load().keys().cloned().collect();
        labels.sort();
        labels
    }

    /// Makes the table `sections`, all at once: a label whose section is
    /// unchanged keeps its backend, every other one gets `build(label,
    /// section)`. The first build that fails is returned and nothing changes.
    pub async fn apply<'a, E, F, Fut>(
        &self,
        sections: impl IntoIterator<Item = (&'a String, &'a C)>,
        build: F,
    ) -> Result<(), E>
    where
        C: 'a,
        F: FnMut(&'a str, &'a C) -> Fut,
        Fut: Future<Output = Result<B, E>>,
    {
        self.prepare(sections, build).await?.commit();
        Ok(())
    }

    /// Builds the table [`apply`](Self::apply) would make without putting
    /// it in use, so that several tables (one per capability) can be built
    /// before any changes: [`Prepared::commit`] swaps it in, dropping it
    /// changes nothing.
    pub async fn prepare<'a, E, F, Fut>(
        &self,
        sections: impl IntoIterator<Item = (&'a String, &'a C)>,
        mut build: F,
    ) -> Result<Prepared<'_, C, B>, E>
    where
        C: 'a,
        F: FnMut(&'a str, &'a C) -> Fut,
        Fut: Future<Output = Result<B, E>>,
    {
        let current = self.map.load_full();
        let mut next = HashMap::new();
        for (label, section) in sections {
            let kept = current
                .get(label)
                .filter(|entry| entry.section.as_ref() == Some(section))
                .cloned();
            let entry = match kept {
                Some(entry) => entry,
                None => Arc::new(Entry {
                    section: Some(section.clone()),
                    backend: build(label, section).await?,
                }),
            };
            next.insert(label.clone(), entry);
        }
        Ok(Prepared { table: self, next })
    }

    /// Makes `backend` the backend of `label`, for backends built outside
    /// the runtime config; the next [`apply`](Self::apply) rebuilds it from
    /// its section, if it has one.
    pub fn replace(&self, label: &str, backend: B) {
        self.map.rcu(|current| {
            let mut next = HashMap::clone(current);
            next.insert(
                label.to_string(),
                Arc::new(Entry {
                    section: None,
                    backend: backend.clone(),
                }),
            );
            next
        });
    }
}

/// A table built by [`LiveLabels::prepare`], not yet in use.
#[must_use = "a prepared table changes nothing until it is committed"]
pub struct Prepared<'t, C, B> {
    table: &'t LiveLabels<C, B>,
    next: HashMap<String, Arc<Entry<C, B>>>,
}

impl<C, B: Clone> Prepared<'_, C, B> {
    /// The backend `label` will have once this table is committed (`None`:
    /// no section names it), as [`LiveLabels::get`] will then answer.
    pub fn get(&self, label: &str) -> Option<B> {
        self.next.get(label).map(|entry| entry.backend.clone())
    }
}

impl<C, B> Prepared<'_, C, B> {
    /// Puts the table in use: lookups from now on see its backends.
    pub fn commit(self) {
        self.table.map.store(Arc::new(self.next));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(l, s)| (l.to_string(), s.to_string()))
            .collect()
    }

    /// Unchanged sections keep their backend, changed and new ones are
    /// built, dropped ones go; a failing build changes nothing.
    #[tokio::test]
    async fn apply_rebuilds_only_what_changed_and_fails_whole() {
        let labels: LiveLabels<String, Arc<String>> = LiveLabels::new();
        let build = |label: &str, section: &String| {
            let built = Arc::new(format!("{label}={section}"));
            async move { Ok::<_, String>(built) }
        };
        let first = sections(&[("a", "x"), ("b", "y")]);
        labels
            .apply(first.iter().map(|(l, s)| (l, s)), build)
            .await
            .unwrap();
        let a = labels.get("a").unwrap();

        let second = sections(&[("a", "x"), ("c", "z")]);
        labels
            .apply(second.iter().map(|(l, s)| (l, s)), build)
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &labels.get("a").unwrap()), "a was rebuilt");
        assert_eq!(labels.get("b"), None);
        assert_eq!(labels.get("c").unwrap().as_str(), "c=z");
        assert_eq!(labels.labels(), ["a", "c"]);

        let failing = sections(&[("a", "changed"), ("d", "w")]);
        let err = labels
            .apply(failing.iter().map(|(l, s)| (l, s)), |label, _| async move {
                Err::<Arc<String>, _>(format!("{label} failed"))
            })
            .await
            .unwrap_err();
        assert_eq!(err, "a failed");
        assert_eq!(labels.labels(), ["a", "c"]);
        assert!(Arc::ptr_eq(&a, &labels.get("a").unwrap()));
    }

    /// A table made `with` ready backends keeps them through an apply of
    /// the same sections, as if `apply` had built them.
    #[tokio::test]
    async fn with_backends_is_a_table_apply_keeps() {
        let labels = LiveLabels::with([
            ("a".to_string(), "x".to_string(), Arc::new(1)),
            ("b".to_string(), "y".to_string(), Arc::new(2)),
        ]);
        let a = labels.get("a").unwrap();
        let config = sections(&[("a", "x"), ("b", "changed")]);
        labels
            .apply(config.iter().map(|(l, s)| (l, s)), |_, _| async {
                Ok::<_, ()>(Arc::new(3))
            })
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&a, &labels.get("a").unwrap()), "a was rebuilt");
        assert_eq!(*labels.get("b").unwrap(), 3);
    }

    /// A prepared table is in use only once committed.
    #[tokio::test]
    async fn prepared_tables_change_nothing_until_committed() {
        let labels: LiveLabels<String, u32> = LiveLabels::new();
        let config = sections(&[("a", "x")]);
        let prepared = labels
            .prepare(config.iter().map(|(l, s)| (l, s)), |_, _| async {
                Ok::<_, ()>(1)
            })
            .await
            .unwrap();
        assert_eq!(labels.get("a"), None);
        prepared.commit();
        assert_eq!(labels.get("a"), Some(1));
        let dropped = labels
            .prepare(std::iter::empty(), |_, _| async { Ok::<_, ()>(2) })
            .await
            .unwrap();
        drop(dropped);
        assert_eq!(labels.get("a"), Some(1));
    }

    /// A replaced label is rebuilt by the next apply even if its section
    /// matches what it had before.
    #[tokio::test]
    async fn replace_sets_one_label_until_the_next_apply() {
        let labels: LiveLabels<String, u32> = LiveLabels::new();
        let config = sections(&[("a", "x")]);
        let apply = |n: u32| {
            let config = &config;
            let labels = &labels;
            async move {
                labels
                    .apply(config.iter().map(|(l, s)| (l, s)), |_, _| async move {
                        Ok::<_, ()>(n)
                    })
                    .await
            }
        };
        apply(1).await.unwrap();
        labels.replace("a", 2);
        labels.replace("b", 3);
        assert_eq!((labels.get("a"), labels.get("b")), (Some(2), Some(3)));
        apply(4).await.unwrap();
        assert_eq!((labels.get("a"), labels.get("b")), (Some(4), None));
    }
}
