//! Volumes: Docker's named and anonymous volumes with the `local` driver,
//! kept under `<data-root>/volumes/<name>/`.
