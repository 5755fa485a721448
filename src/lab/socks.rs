//! Lab SOCKS5 and SOCKS4 servers with behaviours. (Stub: being written.)
