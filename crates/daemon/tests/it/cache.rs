//! The shared result cache in ccfarmd (`--cache`), against a real `redis-server`, with
//! Debian's stock distcc client, which knows nothing of caches.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ccfarm_testkit::stores::Redis;
use ccfarm_testkit::*;

fn hits(server: &Server) -> u64 {
    server.metric("ccfarmd_cache_lookups_total{result=\"hit\"}")
}

fn compiles(server: &Server) -> u64 {
    server.metric("ccfarmd_jobs_total{result=\"compile_ok\"}")
}

/// Wait until `server` has stored `n` results (stores happen after the reply).
fn wait_stored(server: &Server, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric("ccfarmd_cache_stores_total{result=\"stored\"}") < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} results stored: {}",
            server.metric("ccfarmd_cache_stores_total{result=\"stored\"}"),
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `make` in `project` with stock distcc on `hosts`, objects under `out`.
fn make_with_distcc(scratch: &Scratch, project: &Path, out: &Path, hosts: &str) {
    let result = distcc_make(scratch, project, out, hosts).output().unwrap();
    assert!(
        result.status.success(),
        "distcc build failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The command of [`make_with_distcc`].
fn distcc_make(scratch: &Scratch, project: &Path, out: &Path, hosts: &str) -> Command {
    let state = scratch.path().join(".distcc");
    std::fs::create_dir_all(&state).unwrap();
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(project)
        .arg("-j4")
        .arg(format!("OUT={}", out.display()))
        .arg("CC=distcc gcc")
        .env("DISTCC_HOSTS", hosts)
        .env("DISTCC_FALLBACK", "0")
        .env("DISTCC_BACKOFF_PERIOD", "0")
        .env("DISTCC_DIR", &state)
        .env_remove("DISTCC_VERBOSE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    make
}

#[test]
fn a_second_server_answers_a_stock_distcc_build_from_the_shared_redis() {
    let scratch = Scratch::new();
    let redis = Redis::start(scratch.path());
    let first = Server::start(&["--cache", &redis.url()]);
    let second = Server::start(&["--cache", &redis.url()]);
    // Two checkouts in different directories, built with relative paths as make does.
    let alice = copy_demo("strkit", &scratch.path().join("alice"));
    let bob = copy_demo("strkit", &scratch.path().join("bob"));
    // The reference: a local build in a third checkout, into the same relative `out`.
    let carol = copy_demo("strkit", &scratch.path().join("carol"));
    make_locally(&carol, Path::new("out"), &[]);
    let local = carol.join("out");

    make_with_distcc(&scratch, &alice, Path::new("out"), &first.host(""));
    let objects = assert_same_objects(&local, &alice.join("out"));
    assert!(objects >= 10, "strkit has {objects} objects");
    assert_eq!(compiles(&first), objects as u64, "{}", first.log());
    wait_stored(&first, objects as u64);

    make_with_distcc(&scratch, &bob, Path::new("out"), &second.host(",lzo"));
    assert_same_objects(&local, &bob.join("out"));
    // The dependency files are the client's work (stock distcc writes them where it
    // writes them); a build served from the cache leaves the same ones as a compiled one.
    let (compiled, served) = (dependency_files(&alice), dependency_files(&bob));
    assert!(!compiled.is_empty());
    assert_eq!(
        compiled.keys().collect::<Vec<_>>(),
        served.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &compiled {
        assert!(served[name] == *bytes, "{name} differs");
    }
    assert_eq!(hits(&second), objects as u64, "{}", second.log());
    assert_eq!(
        compiles(&second),
        0,
        "the second server compiled: {}",
        second.log()
    );
    assert!(second.log().contains("cache hit"), "{}", second.log());
}

/// gcc's stderr without distcc's own lines.
fn compiler_stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("distcc["))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn what_changes_the_output_misses_and_warnings_are_replayed() {
    let scratch = Scratch::new();
    let redis = Redis::start(scratch.path());
    let server = Server::start(&["--cache", &redis.url()]);
    scratch.write("w.h", "#define SCALE 3\n");
    scratch.write(
        "w.c",
        "#include \"w.h\"\nint f(int x) { int unused;\n#ifdef BIG\n  return x * 100;\n#endif\n  return x * SCALE; }\n",
    );
    let compile = |args: &[&str]| {
        let mut all = vec!["gcc", "-Wall", "-c", "w.c", "-o", "w.o"];
        all.extend_from_slice(args);
        let out = distcc_ok(&scratch, &server.host(""), &all);
        wait_stored(&server, compiles(&server));
        (compiler_stderr(&out), scratch.read("w.o"))
    };
    let local = |args: &[&str]| {
        let mut all = vec!["-Wall", "-c", "w.c", "-o", "local.o"];
        all.extend_from_slice(args);
        let out = run(&scratch, "gcc", &all);
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            scratch.read("local.o"),
        )
    };

    let (warned, object) = compile(&["-O2"]);
    assert!(warned.contains("unused variable"), "{warned}");
    assert_eq!(hits(&server), 0);
    let (replayed, cached) = compile(&["-O2"]);
    assert_eq!(hits(&server), 1, "{}", server.log());
    // The hit replays the farm's warning and returns its object, which is the local one.
    // (Diagnostics of a compile of preprocessed source lack the source line gcc quotes
    // locally; that is distcc's way, cached or not.)
    assert_eq!(replayed, warned);
    assert!(
        cached == object,
        "the hit's object differs from the compiled one"
    );
    assert!(
        cached == local(&["-O2"]).1,
        "the hit's object differs from a local one"
    );

    // A define the source does not test changes nothing the compiler sees: a hit.
    let before = hits(&server);
    let (_, object) = compile(&["-O2", "-DNOT_TESTED=1"]);
    assert_eq!(hits(&server), before + 1);
    assert!(object == local(&["-O2"]).1);

    // A define it tests, another optimisation level, a header's content: each a miss.
    for (step, args) in [&["-O2", "-DBIG"][..], &["-O1"][..]]
        .into_iter()
        .enumerate()
    {
        let before = compiles(&server);
        let (_, object) = compile(args);
        assert_eq!(compiles(&server), before + 1, "step {step} hit: {args:?}");
        assert!(object == local(args).1, "step {step}: object differs");
    }
    scratch.write("w.h", "#define SCALE 4\n");
    let before = compiles(&server);
    let (_, object) = compile(&["-O2"]);
    assert_eq!(compiles(&server), before + 1, "a changed header hit");
    assert!(
        object == local(&["-O2"]).1,
        "object differs after the header changed"
    );
}

#[test]
fn debug_builds_in_two_directories_keep_their_own_paths() {
    let scratch = Scratch::new();
    let redis = Redis::start(scratch.path());
    let server = Server::start(&["--cache", &redis.url()]);
    for dir in ["one", "two"] {
        std::fs::create_dir(scratch.path().join(dir)).unwrap();
        scratch.write(&format!("{dir}/d.c"), "int g(int x) { return x + 1; }\n");
    }
    for dir in ["one", "two", "one"] {
        let cwd = scratch.path().join(dir);
        let out = distcc(&scratch, &server.host(""))
            .current_dir(&cwd)
            .args(["gcc", "-g", "-O2", "-c", "d.c", "-o", "d.o"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let local = Command::new("gcc")
            .current_dir(&cwd)
            .args(["-g", "-O2", "-c", "d.c", "-o", "local.o"])
            .status()
            .unwrap();
        assert!(local.success());
        let object = std::fs::read(cwd.join("d.o")).unwrap();
        assert_eq!(object, std::fs::read(cwd.join("local.o")).unwrap(), "{dir}");
        let path = cwd.display().to_string();
        assert!(
            object.windows(path.len()).any(|w| w == path.as_bytes()),
            "{dir}'s object does not name its directory"
        );
        wait_stored(&server, compiles(&server));
    }
    // "one" twice: the second from the cache; "two" never took "one"'s entry.
    assert_eq!(compiles(&server), 2, "{}", server.log());
    assert_eq!(hits(&server), 1, "{}", server.log());
}

#[test]
fn a_dead_redis_is_a_miss_and_hits_come_back_with_it() {
    let scratch = Scratch::new();
    let mut redis = Redis::start(scratch.path());
    let server = Server::start(&["--cache", &redis.url()]);
    let project = copy_demo("strkit", &scratch.path().join("p"));
    let local = scratch.path().join("local-out");
    make_locally(&project, &local, &[]);

    // Redis dies in the middle of the build: every job still compiles, none waits long.
    let started = Instant::now();
    let build = distcc_make(&scratch, &project, Path::new("out1"), &server.host(""))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.metric("ccfarmd_cache_lookups_total{result=\"miss\"}") < 3 {
        assert!(
            Instant::now() < deadline,
            "the build never started: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    redis.stop();
    let result = build.wait_with_output().unwrap();
    assert!(
        result.status.success(),
        "the build failed when redis died: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let objects = assert_same_objects(&local, &project.join("out1")) as u64;
    assert_eq!(compiles(&server), objects);
    let unusable = server.metric("ccfarmd_cache_lookups_total{result=\"unusable\"}");
    assert!(
        unusable > 0,
        "no look-up met the dead store: {}",
        server.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a dead store stalled the build"
    );

    // Back (empty): the next build stores, the one after is all hits.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut build = 2;
    loop {
        let before = server.metric("ccfarmd_cache_stores_total{result=\"stored\"}");
        make_with_distcc(
            &scratch,
            &project,
            Path::new(&format!("out{build}")),
            &server.host(""),
        );
        build += 1;
        if server.metric("ccfarmd_cache_stores_total{result=\"stored\"}") >= before + objects {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "redis never used again: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let hits_before = hits(&server);
    make_with_distcc(&scratch, &project, Path::new("last"), &server.host(""));
    assert_same_objects(&local, &project.join("last"));
    assert_eq!(hits(&server), hits_before + objects, "{}", server.log());
}

#[test]
fn an_altered_entry_is_never_served_and_is_replaced() {
    let scratch = Scratch::new();
    let redis = Redis::start(scratch.path());
    let server = Server::start(&["--cache", &redis.url()]);
    scratch.write("a.c", "int answer(void) { return 42; }\n");
    let args = ["gcc", "-O2", "-c", "a.c", "-o", "a.o"];
    distcc_ok(&scratch, &server.host(""), &args);
    let good = scratch.read("a.o");
    wait_stored(&server, 1);

    // Flip one byte of the stored entry's object, as a corrupting disk or a writer
    // without the server's key would.
    let keys = String::from_utf8(redis.cli(&["--scan", "--pattern", "*"])).unwrap();
    let key = keys.lines().next().expect("an entry in redis").to_owned();
    let mut entry = Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "GET", &key])
        .output()
        .unwrap()
        .stdout;
    entry.pop(); // redis-cli's newline
    let at = entry.len() / 2;
    entry[at] ^= 0x40;
    let altered = scratch.write("altered", &entry);
    let set = Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "-x", "SET", &key])
        .stdin(std::fs::File::open(altered).unwrap())
        .output()
        .unwrap();
    assert!(set.status.success());

    distcc_ok(&scratch, &server.host(""), &args);
    assert_eq!(scratch.read("a.o"), good, "an altered entry was served");
    assert_eq!(hits(&server), 0);
    assert_eq!(
        server.metric("ccfarmd_cache_lookups_total{result=\"refused\"}"),
        1,
        "{}",
        server.log()
    );
    assert_eq!(compiles(&server), 2);
    // The compile replaced it: the next one is a hit, and right.
    wait_stored(&server, 2);
    distcc_ok(&scratch, &server.host(""), &args);
    assert_eq!(scratch.read("a.o"), good);
    assert_eq!(hits(&server), 1, "{}", server.log());
}
