//! Simulator: many engines over a simulated network, one thread, virtual clock.
