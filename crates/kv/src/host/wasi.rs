//! `wasi:keyvalue/{store,atomics,batch}` at `0.2.0-draft` and `0.2.0-draft2`.
//!
//! The two drafts have nearly the same `store` and `batch` interfaces
//! (implemented by one macro; each draft module supplies its `Cursor` and
//! `Entry` types and their conversions): draft2 writes the `list-keys` cursor
//! as a string and `get-many` results as `(key, option<value>)`. Their
//! `atomics` differ more: draft increments by a `u64`, draft2 by an `s64` and
//! adds compare-and-swap.

use wasmtime::component::Resource;

use super::{CasHandle, HostError, KvView, StoreHandle};
use crate::bindings::{wasi_draft, wasi_draft2};
use crate::error::Error;

/// Implements `store` and `batch` of one draft, in module `$kv` (the
/// generated `wasi::keyvalue` module) for interface version `$version`.
macro_rules! store_and_batch {
    ($kv:path, $version:literal) => {
        use $kv as kv;

        impl kv::store::Host for KvView<'_> {
            #[tracing::instrument(name = "skiff_kv.open", skip_all,
                fields(store = %identifier, interface = $version))]
            async fn open(&mut self, identifier: String) -> Result<Resource<StoreHandle>, HostError> {
                self.open_store(&identifier).await
            }

            fn convert_error(&mut self, err: HostError) -> wasmtime::Result<kv::store::Error> {
                Ok(match err.into_kv()? {
                    Error::NoSuchStore { .. } => kv::store::Error::NoSuchStore,
                    Error::AccessDenied { .. } => kv::store::Error::AccessDenied,
                    other => kv::store::Error::Other(other.to_string()),
                })
            }
        }

        impl kv::store::HostBucket for KvView<'_> {
            #[tracing::instrument(name = "skiff_kv.get", skip_all, fields(store, interface = $version))]
            async fn get(
                &mut self,
                bucket: Resource<StoreHandle>,
                key: String,
            ) -> Result<Option<Vec<u8>>, HostError> {
                Ok(self.store(&bucket)?.get(&key).await?)
            }

            #[tracing::instrument(name = "skiff_kv.set", skip_all, fields(store, interface = $version))]
            async fn set(
                &mut self,
                bucket: Resource<StoreHandle>,
                key: String,
                value: Vec<u8>,
            ) -> Result<(), HostError> {
                Ok(self.store(&bucket)?.set(&key, &value).await?)
            }

            #[tracing::instrument(name = "skiff_kv.delete", skip_all, fields(store, interface = $version))]
            async fn delete(&mut self, bucket: Resource<StoreHandle>, key: String) -> Result<(), HostError> {
                Ok(self.store(&bucket)?.delete(&key).await?)
            }

            #[tracing::instrument(name = "skiff_kv.exists", skip_all, fields(store, interface = $version))]
            async fn exists(&mut self, bucket: Resource<StoreHandle>, key: String) -> Result<bool, HostError> {
                Ok(self.store(&bucket)?.exists(&key).await?)
            }

            #[tracing::instrument(name = "skiff_kv.list_keys", skip_all, fields(store, interface = $version))]
            async fn list_keys(
                &mut self,
                bucket: Resource<StoreHandle>,
                cursor: Option<Cursor>,
            ) -> Result<kv::store::KeyResponse, HostError> {
                let store = self.store(&bucket)?;
                let page = store.list_keys(cursor_in(cursor)?).await?;
                Ok(kv::store::KeyResponse {
                    keys: page.keys,
                    cursor: cursor_out(page.cursor),
                })
            }

            async fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
                self.drop_store(bucket)
            }
        }

        impl kv::batch::Host for KvView<'_> {
            #[tracing::instrument(name = "skiff_kv.get_many", skip_all, fields(store, interface = $version))]
            async fn get_many(
                &mut self,
                bucket: Resource<StoreHandle>,
                keys: Vec<String>,
            ) -> Result<Vec<Entry>, HostError> {
                let values = self.store(&bucket)?.get_many(&keys).await?;
                Ok(keys.into_iter().zip(values).map(|(key, value)| entry(key, value)).collect())
            }

            #[tracing::instrument(name = "skiff_kv.set_many", skip_all, fields(store, interface = $version))]
            async fn set_many(
                &mut self,
                bucket: Resource<StoreHandle>,
                key_values: Vec<(String, Vec<u8>)>,
            ) -> Result<(), HostError> {
                Ok(self.store(&bucket)?.set_many(&key_values).await?)
            }

            #[tracing::instrument(name = "skiff_kv.delete_many", skip_all, fields(store, interface = $version))]
            async fn delete_many(
                &mut self,
                bucket: Resource<StoreHandle>,
                keys: Vec<String>,
            ) -> Result<(), HostError> {
                Ok(self.store(&bucket)?.delete_many(&keys).await?)
            }
        }
    };
}

mod draft {
    use super::*;

    type Cursor = u64;
    type Entry = Option<(String, Vec<u8>)>;

    fn cursor_in(cursor: Option<u64>) -> Result<Option<u64>, Error> {
        Ok(cursor)
    }

    fn cursor_out(cursor: Option<u64>) -> Option<u64> {
        cursor
    }

    fn entry(key: String, value: Option<Vec<u8>>) -> Entry {
        value.map(|value| (key, value))
    }

    store_and_batch!(wasi_draft::wasi::keyvalue, "wasi:keyvalue@0.2.0-draft");

    impl kv::atomics::Host for KvView<'_> {
        /// Counters are `i64` in every backend: a delta above `i64::MAX` or
        /// a negative stored value does not fit this interface's `u64`.
        #[tracing::instrument(
            name = "skiff_kv.increment",
            skip_all,
            fields(store, interface = "wasi:keyvalue@0.2.0-draft")
        )]
        async fn increment(
            &mut self,
            bucket: Resource<StoreHandle>,
            key: String,
            delta: u64,
        ) -> Result<u64, HostError> {
            let store = self.store(&bucket)?;
            let overflow = || Error::Overflow { key: key.clone() };
            let delta = i64::try_from(delta).map_err(|_| overflow())?;
            let value = store.increment(&key, delta).await?;
            Ok(u64::try_from(value).map_err(|_| overflow())?)
        }
    }
}

mod draft2 {
    use super::*;

    type Cursor = String;
    type Entry = (String, Option<Vec<u8>>);

    fn cursor_in(cursor: Option<String>) -> Result<Option<u64>, Error> {
        cursor
            .map(|text| {
                text.parse()
                    .map_err(|_| Error::InvalidCursor { cursor: text })
            })
            .transpose()
    }

    fn cursor_out(cursor: Option<u64>) -> Option<String> {
        cursor.map(|cursor| cursor.to_string())
    }

    fn entry(key: String, value: Option<Vec<u8>>) -> Entry {
        (key, value)
    }

    store_and_batch!(wasi_draft2::wasi::keyvalue, "wasi:keyvalue@0.2.0-draft2");

    impl kv::atomics::Host for KvView<'_> {
        #[tracing::instrument(
            name = "skiff_kv.increment",
            skip_all,
            fields(store, interface = "wasi:keyvalue@0.2.0-draft2")
        )]
        async fn increment(
            &mut self,
            bucket: Resource<StoreHandle>,
            key: String,
            delta: i64,
        ) -> Result<i64, HostError> {
            Ok(self.store(&bucket)?.increment(&key, delta).await?)
        }

        #[tracing::instrument(
            name = "skiff_kv.compare_and_swap",
            skip_all,
            fields(store, interface = "wasi:keyvalue@0.2.0-draft2")
        )]
        async fn swap(
            &mut self,
            cas: Resource<CasHandle>,
            value: Vec<u8>,
        ) -> wasmtime::Result<Result<(), kv::atomics::CasError>> {
            let CasHandle {
                label,
                store,
                key,
                current,
            } = self.table.delete(cas)?;
            tracing::Span::current().record("store", &*label);
            let swapped = store
                .compare_and_swap(&key, current.as_deref(), &value)
                .await;
            let error = match swapped {
                Ok(true) => return Ok(Ok(())),
                Ok(false) => match store.get(&key).await {
                    // Lost the race: hand back a CAS on the value now stored.
                    Ok(current) => {
                        let retry = self.table.push(CasHandle {
                            label,
                            store,
                            key,
                            current,
                        })?;
                        return Ok(Err(kv::atomics::CasError::CasFailed(retry)));
                    }
                    Err(err) => err,
                },
                Err(err) => err,
            };
            let error = kv::store::Host::convert_error(self, error.into())?;
            Ok(Err(kv::atomics::CasError::StoreError(error)))
        }
    }

    impl kv::atomics::HostCas for KvView<'_> {
        #[tracing::instrument(
            name = "skiff_kv.cas_new",
            skip_all,
            fields(store, interface = "wasi:keyvalue@0.2.0-draft2")
        )]
        async fn new(
            &mut self,
            bucket: Resource<StoreHandle>,
            key: String,
        ) -> Result<Resource<CasHandle>, HostError> {
            let label = self.table.get(&bucket)?.label.clone();
            let store = self.store(&bucket)?;
            let current = store.get(&key).await?;
            Ok(self.table.push(CasHandle {
                label,
                store,
                key,
                current,
            })?)
        }

        async fn current(
            &mut self,
            cas: Resource<CasHandle>,
        ) -> Result<Option<Vec<u8>>, HostError> {
            Ok(self.table.get(&cas)?.current.clone())
        }

        async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
            self.table.delete(cas)?;
            Ok(())
        }
    }
}
