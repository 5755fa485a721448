//! Hostile lab endpoints. (Stub: being written.)
