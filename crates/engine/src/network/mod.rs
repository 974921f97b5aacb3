//! Networks: Docker's network objects (`bridge`, `host`, `none` and user
//! networks) and the endpoints of containers on them, over `berth-net`.
