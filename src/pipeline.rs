//! One partner request, phase by phase.
