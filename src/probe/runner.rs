//! The probe runner. (Stub.)
