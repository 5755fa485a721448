//! Lab HTTP proxies with behaviours. (Stub: being written.)
