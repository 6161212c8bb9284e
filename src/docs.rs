//! The docs pages as doctests: every ```rust block in docs/ compiles and runs (`cargo test --doc`).
//!
//! The examples' hidden setup (`# ` lines) takes a fresh database
//! (`dbpat_runtime::testing::TestDatabase`) and a Redis key prefix of its own (`TestRedis`),
//! mostly through `docs/support/shop.rs`.

#[doc = include_str!("../README.md")]
pub struct Readme;

#[doc = include_str!("../docs/models.md")]
pub struct Models;

#[doc = include_str!("../docs/queries.md")]
pub struct Queries;

#[doc = include_str!("../docs/relations.md")]
pub struct Relations;

#[doc = include_str!("../docs/cache.md")]
pub struct CachePage;

#[doc = include_str!("../docs/migrations.md")]
pub struct Migrations;

#[doc = include_str!("../docs/tiers.md")]
pub struct TiersPage;

#[doc = include_str!("../docs/operations.md")]
pub struct Operations;

#[doc = include_str!("../docs/keyspaces.md")]
pub struct Keyspaces;

#[doc = include_str!("../docs/scaling-out.md")]
pub struct ScalingOut;
