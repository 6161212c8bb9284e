//! The cache protocol on real Redis and PostgreSQL: behaviour, consistency under concurrent writers, stampedes, Redis slow, killed and restarted.

#[path = "../support/mod.rs"]
mod support;

mod behaviour;
mod cluster;
mod consistency;
mod keys;
mod redis_down;
mod restore;
mod stampede;
