//! The lab: honest and malicious proxies and the origins they lead to, on loopback.

pub mod ca;
pub mod hostile;
pub mod http_proxy;
pub mod intercept;
pub mod origins;
pub mod route;
pub mod socks;
