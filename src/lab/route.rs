//! Where lab proxies send their clients: `*.lab.test` names and loopback only. (Stub.)

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

/// The lab's resolver: only its own names and loopback addresses are reachable.
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// `name` → address (all loopback).
    pub names: HashMap<String, IpAddr>,
}

impl Router {
    /// Resolves a target the way an honest lab proxy does; `None` when not allowed.
    pub fn resolve_name(&self, name: &str, port: u16) -> Option<SocketAddr> {
        self.names
            .get(&name.to_ascii_lowercase())
            .map(|ip| SocketAddr::new(*ip, port))
    }
}
