//! The shared store against real services: a `redis-server` and a WebDAV server
//! (`rclone serve webdav`), started and stopped here.

use std::time::{Duration, Instant};

use ccfarm_cache::{Key, SharedError, SharedStore};
use ccfarm_testkit::Scratch;
use ccfarm_testkit::stores::{Redis, WebDav};

const DEADLINE: Duration = Duration::from_secs(2);
const LIMIT: u64 = 1 << 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Put, get, overwrite, miss and remove through `store`.
async fn exercise(store: &SharedStore) {
    let key = Key::from_bytes([7; 32]);
    let other = Key::from_bytes([8; 32]);
    assert_eq!(store.get(&key).await.unwrap(), None);
    store.put(&key, b"first".to_vec()).await.unwrap();
    assert_eq!(
        store.get(&key).await.unwrap().as_deref(),
        Some(&b"first"[..])
    );
    store.put(&key, vec![0xa5; 300_000]).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), Some(vec![0xa5; 300_000]));
    assert_eq!(store.get(&other).await.unwrap(), None);
    store.remove(&key).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap(), None);
}

#[test]
fn redis_keeps_entries_and_a_dead_redis_fails_within_the_deadline() {
    let scratch = Scratch::new();
    let mut redis = Redis::start(scratch.path());
    let store = SharedStore::open(&redis.url(), DEADLINE, LIMIT).unwrap();
    let rt = runtime();
    rt.block_on(exercise(&store));

    // What is over the limit is refused, not kept in memory.
    let key = Key::from_bytes([9; 32]);
    rt.block_on(store.put(&key, vec![1; LIMIT as usize + 1]))
        .unwrap();
    let err = rt.block_on(store.get(&key)).unwrap_err();
    assert!(matches!(err, SharedError::TooLarge { .. }), "{err}");

    redis.stop();
    let started = Instant::now();
    let err = rt.block_on(store.get(&key)).unwrap_err();
    assert!(
        started.elapsed() < DEADLINE + Duration::from_secs(1),
        "{err}"
    );

    // Back (empty): the same store object works again.
    redis.restart();
    let back = Instant::now() + Duration::from_secs(10);
    loop {
        match rt.block_on(store.get(&key)) {
            Ok(found) => {
                assert_eq!(found, None);
                break;
            }
            Err(e) => assert!(Instant::now() < back, "redis never usable again: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn webdav_keeps_entries_and_refuses_a_wrong_password() {
    let scratch = Scratch::new();
    let root = scratch.path().join("dav");
    std::fs::create_dir(&root).unwrap();
    let dav = WebDav::start(&root, "ci", "s3cret");
    let store = SharedStore::open(&dav.url("ci", "s3cret", "/ccfarm"), DEADLINE, LIMIT).unwrap();
    let rt = runtime();
    rt.block_on(exercise(&store));
    // The entry went to the server's directory, in its two-digit collection.
    let key = Key::from_bytes([0x42; 32]);
    rt.block_on(store.put(&key, b"x".to_vec())).unwrap();
    let file = root.join("ccfarm/42").join(key.hex());
    assert_eq!(std::fs::read(&file).unwrap(), b"x");

    let wrong = SharedStore::open(&dav.url("ci", "guess", "/ccfarm"), DEADLINE, LIMIT).unwrap();
    let err = rt.block_on(wrong.get(&key)).unwrap_err();
    assert!(matches!(err, SharedError::Store { .. }), "{err}");
    assert!(!err.to_string().contains("guess"), "{err}");
}
