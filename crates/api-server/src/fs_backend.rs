//! What the file-system routes of a container need (`top`, `changes`,
//! `export`, `archive`, `commit`), reached through
//! [`crate::ContainerBackend::fs`] so that fakes without a file system
//! need not implement it. The calls block: handlers run them on a
//! blocking thread.

use std::io::{Read, Write};

use berth_engine::Engine;
use berth_engine::container::ContainerError;
use berth_engine::container::fs::{Change, CommitRequest, PathStat, PutArchiveOptions};
use berth_engine::container::top::TopOutput;

pub trait FsBackend: Send + Sync {
    fn top(&self, id: &str, ps_args: &str) -> Result<TopOutput, ContainerError>;
    fn changes(&self, id: &str) -> Result<Vec<Change>, ContainerError>;
    fn export(&self, id: &str, w: &mut dyn Write) -> Result<(), ContainerError>;
    fn archive_stat(&self, id: &str, path: &str) -> Result<PathStat, ContainerError>;
    /// `on_stat` gets the stat before any byte and returns the writer for
    /// the tar.
    fn archive_get(
        &self,
        id: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat) -> Box<dyn Write + Send>,
    ) -> Result<(), ContainerError>;
    fn archive_put(
        &self,
        id: &str,
        path: &str,
        r: &mut dyn Read,
        opts: PutArchiveOptions,
    ) -> Result<(), ContainerError>;
    /// Returns the new image's ID.
    fn commit(&self, id: &str, req: &CommitRequest) -> Result<String, ContainerError>;
}

impl FsBackend for Engine {
    fn top(&self, id: &str, ps_args: &str) -> Result<TopOutput, ContainerError> {
        self.containers().top(id, ps_args)
    }
    fn changes(&self, id: &str) -> Result<Vec<Change>, ContainerError> {
        self.containers().changes(id)
    }
    fn export(&self, id: &str, w: &mut dyn Write) -> Result<(), ContainerError> {
        self.containers().export(id, w)
    }
    fn archive_stat(&self, id: &str, path: &str) -> Result<PathStat, ContainerError> {
        self.containers().archive_stat(id, path)
    }
    fn archive_get(
        &self,
        id: &str,
        path: &str,
        on_stat: &mut dyn FnMut(&PathStat) -> Box<dyn Write + Send>,
    ) -> Result<(), ContainerError> {
        self.containers().archive_get(id, path, on_stat)
    }
    fn archive_put(
        &self,
        id: &str,
        path: &str,
        r: &mut dyn Read,
        opts: PutArchiveOptions,
    ) -> Result<(), ContainerError> {
        self.containers().archive_put(id, path, r, opts)
    }
    fn commit(&self, id: &str, req: &CommitRequest) -> Result<String, ContainerError> {
        self.containers().commit(id, req)
    }
}
