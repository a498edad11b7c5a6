//! Integration tests, one binary (each extra test binary costs a link).

mod util;

mod cli;
mod corpus;
#[cfg(feature = "parquet")]
mod export;
mod formats;
mod html;
mod props;
mod report;
#[cfg(feature = "parquet")]
mod s3;
mod scenarios;
mod snapshots;
mod tail;
