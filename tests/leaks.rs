//! TestServer cleans up after itself. Its own test binary: thread and fd counts
//! are per process, and tests running beside it would disturb them.

use colloquy::testing::TestServer;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Starting and stopping servers leaves no thread and no descriptor behind.
#[test]
fn two_hundred_servers_leak_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Warm up: the first server initializes lazy statics (log, TLS pools).
    drop(TestServer::start());
    let (t0, f0) = (threads(), fds());
    for i in 0..200 {
        let server = TestServer::start();
        if i % 20 == 0 {
            // Use some: a client and a REST call, so their resources are counted too.
            rt.block_on(async {
                let c = server.connect("alice").await.unwrap();
                c.ping().await.unwrap();
                assert_eq!(server.rest().get("/healthz").await.unwrap().status, 200);
                c.close();
            });
        }
        drop(server);
    }
    drop(rt);
    let (t1, f1) = (threads(), fds());
    assert!(t1 <= t0 + 2, "threads {t0} -> {t1}");
    assert!(f1 <= f0 + 4, "fds {f0} -> {f1}");
}
