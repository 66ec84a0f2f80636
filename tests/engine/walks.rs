//! The random walk (`tests/support/walk/`) on one engine: in memory, past
//! small limits, with ops asked side by side, and on a data dir across a
//! restart.

use colloquy::Config;

use crate::walk::{seeds, small_limits, Walk, Walked};

/// Walks each seed 400 steps on an engine of `config`, some of them several
/// ops at once when `together`, checking it all at the end.
async fn walk_seeds(base: u64, count: u64, config: Config, together: bool) {
    let mut walked = Walked::default();
    for seed in seeds(base, count) {
        let mut walk = Walk::new(seed, config.clone()).await;
        if together {
            walk.side_by_side();
        }
        walk.steps(400).await;
        walk.agree().await;
        walked.add(&walk);
        walk.shutdown();
    }
    walked.were_enough();
}

#[tokio::test]
async fn walks_keep_every_rule() {
    walk_seeds(0, 8, Config::for_tests(), false).await;
}

#[tokio::test]
async fn walks_with_ops_side_by_side_keep_every_rule() {
    walk_seeds(3_000, 6, Config::for_tests(), true).await;
    walk_seeds(3_100, 6, small_limits(), true).await;
}

#[tokio::test]
async fn walks_past_small_limits_keep_every_rule() {
    walk_seeds(1_000, 8, small_limits(), false).await;
}

#[tokio::test]
async fn walks_on_a_data_dir_read_back_the_same_after_a_restart() {
    let mut walked = Walked::default();
    for seed in seeds(2_000, 3) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_tests();
        config.data_dir = Some(dir.path().to_path_buf());
        config.limits.max_history = 12;
        let mut walk = Walk::new(seed, config).await;
        // Ops committed together must read back as they were answered.
        walk.side_by_side();
        walk.steps(250).await;
        walk.agree().await;
        walk.restart_reads_back_the_same().await;
        walk.steps(100).await;
        walk.agree().await;
        walked.add(&walk);
        walk.shutdown();
    }
    walked.were_enough();
}
