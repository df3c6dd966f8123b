//! Integration tests of `skiff-blob`: the store suite on both backends
//! (`file_system` in a temporary directory, `memory`), what only the
//! file-system store has (its layout on disk, names mapped to file names,
//! durability of what it wrote), and the manager that hands an app its
//! stores by label.

mod backends;
mod file_system;
mod manager;
