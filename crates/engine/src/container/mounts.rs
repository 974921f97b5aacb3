//! A container's mounts: binds, named and anonymous volumes, tmpfs and
//! `--volumes-from`, as docker's `HostConfig.Binds`/`Mounts`/`VolumesFrom`
//! and the image's `VOLUME`s.
