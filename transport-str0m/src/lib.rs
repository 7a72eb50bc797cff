//! n2n-overlay transport on str0m (work in progress).
