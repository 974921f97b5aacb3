//! The registry client: pulls and pushes images for the engine.
