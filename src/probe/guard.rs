//! The address guard. (Stub.)
