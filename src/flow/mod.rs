//! The flow: velocity fields, integrators and the simulation driver.

pub mod integrate;
pub mod sim;
pub mod velocity;
