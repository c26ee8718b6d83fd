//! The result cache on the client (`CCFARM_CACHE=1`): demo/strkit built through a real
//! ccfarmd from one directory, then from a copy in another, compiles nothing the second
//! time and gives the local build's objects; a changed define misses; warnings are
//! replayed; a tampered entry is never served.

use std::path::{Path, PathBuf};
use std::process::Command;

use ccfarm_testkit::*;

use crate::common::*;

/// `make` in `project` through the farm at `hosts` with the cache on.
fn build(scratch: &Scratch, hosts: &str, project: &Path, out: &Path) {
    make_through(scratch, hosts, project, out, true);
}

/// `make` in `project` through the farm at `hosts`, with the client's cache on or off.
fn make_through(scratch: &Scratch, hosts: &str, project: &Path, out: &Path, cache: bool) {
    let cache = if cache { "1" } else { "0" };
    make_with(
        scratch,
        hosts,
        project,
        out,
        &[("CCFARM_CACHE", cache.as_ref())],
    );
}

/// `make` in `project` through the farm at `hosts`, with `env` besides the clean
/// environment.
fn make_with(
    scratch: &Scratch,
    hosts: &str,
    project: &Path,
    out: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) {
    let mut make = Command::new("make");
    let result = farm_env(&mut make, scratch, hosts)
        .envs(env.iter().copied())
        .arg("-C")
        .arg(project)
        .arg(format!("OUT={}", out.display()))
        .arg(format!("CC={CCFARM} gcc"))
        .args(["-j8", "check"])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&result.stderr),
        client_log(scratch)
    );
}

/// Where each compile recorded in the job records ran (`farm`, `cache`, `local:…`).
fn places(scratch: &Scratch) -> Vec<String> {
    std::fs::read_to_string(scratch.path().join(".ccfarm/jobs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap_or("").to_owned())
        .collect()
}

fn compiled_by(server: &Server) -> u64 {
    server.status()["results"]["compile_ok"].as_u64().unwrap()
}

fn cache_entries(scratch: &Scratch) -> Vec<PathBuf> {
    let mut entries = Vec::new();
    for sub in std::fs::read_dir(scratch.path().join(".ccfarm/cache"))
        .unwrap()
        .flatten()
    {
        for item in std::fs::read_dir(sub.path()).unwrap().flatten() {
            // Results only, not direct mode's manifests.
            if item.path().extension().is_none() {
                entries.push(item.path());
            }
        }
    }
    entries
}

#[test]
fn a_second_build_from_another_directory_compiles_nothing_and_matches_a_local_build() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let (first, second) = (scratch.path().join("a"), scratch.path().join("b"));
    copy_demo("strkit", &first);
    copy_demo("strkit", &second);
    let local_out = scratch.path().join("local");
    make_locally(&first, &local_out, &["-j4", "check"]);

    let hosts = server.host(",lzo");
    build(&scratch, &hosts, &first, &scratch.path().join("out-a"));
    let objects = assert_same_objects(&local_out, &scratch.path().join("out-a")) as u64;
    assert!(objects >= 50, "strkit has only {objects} objects");
    assert_eq!(compiled_by(&server), objects, "{}", client_log(&scratch));
    assert_eq!(cache_entries(&scratch).len() as u64, objects);

    // Another directory, the same cache: every object a hit, nothing sent.
    build(&scratch, &hosts, &second, &scratch.path().join("out-b"));
    assert_same_objects(&local_out, &scratch.path().join("out-b"));
    assert_eq!(
        compiled_by(&server),
        objects,
        "the second build compiled on the farm"
    );
    let places = places(&scratch);
    let second_build = &places[objects as usize..];
    assert_eq!(second_build.len() as u64, objects, "{places:?}");
    assert!(
        second_build.iter().all(|p| p == "cache"),
        "{second_build:?}"
    );
    let stats = ccfarm(&scratch, "").arg("stats").output().unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(
        stats.contains(&format!("from the cache       {objects:>9}")),
        "{stats}"
    );

    // Entries altered on disk are refused, compiled again, and the objects are right.
    for entry in cache_entries(&scratch) {
        let mut bytes = std::fs::read(&entry).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&entry, bytes).unwrap();
    }
    std::fs::remove_dir_all(scratch.path().join("out-b")).unwrap();
    build(&scratch, &hosts, &second, &scratch.path().join("out-b"));
    assert_same_objects(&local_out, &scratch.path().join("out-b"));
    assert_eq!(
        compiled_by(&server),
        2 * objects,
        "a tampered entry was served"
    );
    assert!(client_log(&scratch).contains("refused and removed"));
}

#[test]
fn a_changed_define_misses_and_a_hit_replays_the_warnings() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write(
        "w.c",
        "int f(int a) {\n    int unused;\n#ifdef WIDE\n    return a * 2;\n#else\n    return a;\n#endif\n}\n",
    );
    let compile = |define: &str| {
        let out = ccfarm(&scratch, &server.host(""))
            .env("CCFARM_CACHE", "1")
            .args(["gcc", "-Wall", define, "-c", "w.c", "-o", "w.o"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", client_log(&scratch));
        (
            String::from_utf8_lossy(&out.stderr).into_owned(),
            std::fs::read(scratch.path().join("w.o")).unwrap(),
        )
    };
    let (warned, narrow) = compile("-DNARROW");
    assert!(warned.contains("unused variable"), "{warned}");
    assert_eq!(compiled_by(&server), 1);
    // The same again: from the cache, the same warning and object.
    assert_eq!(compile("-DNARROW"), (warned.clone(), narrow.clone()));
    assert_eq!(compiled_by(&server), 1);
    assert!(client_log(&scratch).contains("cache hit for w.c"));
    // A define that changes the source: compiled, and a different object.
    let (_, wide) = compile("-DWIDE");
    assert_eq!(compiled_by(&server), 2);
    assert_ne!(wide, narrow);
    // A define the source never reads leaves the preprocessed text, and so the key,
    // unchanged.
    assert_eq!(compile("-DUNUSED").1, narrow);
    assert_eq!(compiled_by(&server), 2);
    let stats = ccfarm(&scratch, "").arg("stats").output().unwrap();
    let stats = String::from_utf8_lossy(&stats.stdout);
    assert!(stats.contains("from the cache               2"), "{stats}");
    assert!(stats.contains("cache misses                 2"), "{stats}");
}

#[test]
fn two_clients_in_different_directories_share_the_servers_redis_cache() {
    let store = Scratch::new();
    let redis = ccfarm_testkit::stores::Redis::start(store.path());
    // Two servers sharing the store: each client uses its own.
    let first = Server::start(&["--cache", &redis.url()]);
    let second = Server::start(&["--cache", &redis.url()]);
    let (alice, bob) = (Scratch::new(), Scratch::new());
    let alice_project = copy_demo("strkit", &alice.path().join("strkit"));
    std::fs::create_dir(bob.path().join("work")).unwrap();
    let bob_project = copy_demo("strkit", &bob.path().join("work/strkit"));
    let local_out = alice.path().join("local");
    make_locally(&alice_project, &local_out, &["-j4", "check"]);

    // Neither client has a cache of its own: what the second one gets, it gets from
    // the farm's.
    let build = |scratch: &Scratch, hosts: &str, project: &Path, out: &Path| {
        make_through(scratch, hosts, project, out, false)
    };
    build(
        &alice,
        &first.host(",lzo"),
        &alice_project,
        &alice.path().join("out"),
    );
    let objects = assert_same_objects(&local_out, &alice.path().join("out")) as u64;
    let stored = "ccfarmd_cache_stores_total{result=\"stored\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while first.metric(stored) < objects {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} stored",
            first.metric(stored)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Bob's reference: a local build writing where his farm build will, so that its
    // dependency files name the same targets.
    let bob_out = bob.path().join("out");
    make_locally(&bob_project, &bob_out, &["-j4", "check"]);
    let bob_local_deps = dependency_files(&bob_out);
    assert_eq!(bob_local_deps.len() as u64, objects);
    let bob_local = bob.path().join("local");
    std::fs::rename(&bob_out, &bob_local).unwrap();
    build(&bob, &second.host(",lzo"), &bob_project, &bob_out);
    assert_same_objects(&local_out, &bob_out);
    assert_same_objects(&bob_local, &bob_out);
    assert_eq!(dependency_files(&bob_out), bob_local_deps);
    assert_eq!(
        compiled_by(&second),
        0,
        "the second client's build compiled something"
    );
    assert_eq!(
        second.metric("ccfarmd_cache_lookups_total{result=\"hit\"}"),
        objects
    );
}

#[test]
fn direct_mode_skips_the_preprocessor_until_a_header_changes() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let project = copy_demo("wordstat", &scratch.path().join("p"));
    let local_out = scratch.path().join("local");
    make_locally(&project, &local_out, &["-j4", "check"]);
    let hosts = server.host(",lzo");
    let out = scratch.path().join("out");
    let direct_hits = |scratch: &Scratch| client_log(scratch).matches("direct cache hit").count();

    build(&scratch, &hosts, &project, &out);
    let objects = assert_same_objects(&local_out, &out);
    let first_deps = dependency_files(&out);
    assert_eq!(first_deps.len(), objects);
    assert_eq!(direct_hits(&scratch), 0);

    // Again, from scratch: every job found by its source and headers, the dependency
    // files written as the preprocessor wrote them.
    std::fs::remove_dir_all(&out).unwrap();
    build(&scratch, &hosts, &project, &out);
    assert_same_objects(&local_out, &out);
    assert_eq!(direct_hits(&scratch), objects, "{}", client_log(&scratch));
    assert_eq!(dependency_files(&out), first_deps);
    assert_eq!(compiled_by(&server), objects as u64);

    // A header most files include changes: those files are not found directly (the
    // preprocessed look-up finds them), and the objects are those of a local build.
    let header = project.join("src/hash.h");
    let mut text = std::fs::read_to_string(&header).unwrap();
    // A macro nothing uses: the header's bytes change, the preprocessed text does not.
    text.push_str("\n#define WORDSTAT_DIRECT_MODE_TEST 1\n");
    std::fs::write(&header, text).unwrap();
    std::fs::remove_dir_all(&local_out).unwrap();
    make_locally(&project, &local_out, &["-j4", "check"]);
    std::fs::remove_dir_all(&out).unwrap();
    let before = direct_hits(&scratch);
    build(&scratch, &hosts, &project, &out);
    assert_same_objects(&local_out, &out);
    let including = first_deps
        .values()
        .filter(|d| String::from_utf8_lossy(d).contains("src/hash.h"))
        .count();
    assert!(including > 0);
    assert_eq!(
        direct_hits(&scratch) - before,
        objects - including,
        "a file including the changed header was found directly"
    );
}

#[test]
fn a_source_using_the_time_of_day_is_never_found_directly() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    scratch.write("t.c", "const char *built = __TIME__;\n");
    let compile = || {
        let out = ccfarm(&scratch, &server.host(""))
            .env("CCFARM_CACHE", "1")
            .args(["gcc", "-c", "t.c", "-o", "t.o"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", client_log(&scratch));
    };
    compile();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    compile();
    let log = client_log(&scratch);
    assert!(log.contains("uses __DATE__ or __TIME__"), "{log}");
    assert!(!log.contains("direct cache hit"), "{log}");
}

/// The cache note of each compile in the job records (`hit`, `shared-hit`, `miss`, …).
fn cache_notes(scratch: &Scratch) -> Vec<String> {
    std::fs::read_to_string(scratch.path().join(".ccfarm/jobs.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| l.split('\t').nth(6).unwrap_or("").to_owned())
        .collect()
}

#[test]
fn a_client_with_an_empty_cache_skips_the_preprocessor_with_its_users_manifests_from_the_farm() {
    shared_direct_mode(false);
}

/// The same on a secured farm: the look-ups and manifests go over TLS (through the
/// user's agent), and the manifests the scheduler keeps are sealed with its key.
#[test]
fn on_a_secure_farm_the_users_sealed_manifests_are_found_too() {
    shared_direct_mode(true);
}

fn shared_direct_mode(secure: bool) {
    let store = Scratch::new();
    let redis = ccfarm_testkit::stores::Redis::start(store.path());
    let work = Scratch::new();
    let jobs_tmp = work.path().join("tmp");
    std::fs::create_dir(&jobs_tmp).unwrap();
    let project = copy_demo("wordstat", &work.path().join("p"));
    let local_out = work.path().join("local");
    make_locally(&project, &local_out, &["-j4", "check"]);
    let (farm, scheduler, credentials) =
        crate::farm::standing_farm_with(&work, &jobs_tmp, secure, &["--cache", &redis.url()]);
    let _farm = crate::farm::FarmProcess(farm);
    // Every build writes the same outputs: a manifest is for one command line.
    let out = work.path().join("out");
    let build = |user: &str, scratch: &Scratch| {
        let _ = std::fs::remove_dir_all(&out);
        let mut env: Vec<(&str, &std::ffi::OsStr)> = vec![
            ("CCFARM_SCHEDULER", scheduler.as_ref()),
            ("CCFARM_CACHE", "1".as_ref()),
            ("USER", user.as_ref()),
            ("LOGNAME", user.as_ref()),
        ];
        env.extend(
            credentials
                .iter()
                .map(|c| ("CCFARM_CREDENTIALS", c.as_os_str())),
        );
        make_with(scratch, "", &project, &out, &env);
        assert_same_objects(&local_out, &out)
    };

    let alice = Scratch::new();
    let objects = build("alice", &alice);
    assert!(objects >= 8, "wordstat has only {objects} objects");
    let first_deps = dependency_files(&out);
    assert_eq!(places(&alice), vec!["farm"; objects]);
    // The server stores each entry after its reply, and the scheduler files each of
    // alice's manifests: one key each.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let keys = || {
        String::from_utf8_lossy(&redis.cli(&["DBSIZE"]))
            .trim()
            .parse::<usize>()
            .unwrap()
    };
    while keys() < 2 * objects {
        assert!(
            std::time::Instant::now() < deadline,
            "{} keys in the store for {objects} objects",
            keys()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // Alice again, on a machine whose cache is empty: every job answered from the
    // farm's cache without running the preprocessor, the dependency files as it wrote
    // them.
    let alice_elsewhere = Scratch::new();
    build("alice", &alice_elsewhere);
    assert_eq!(cache_notes(&alice_elsewhere), vec!["shared-hit"; objects]);
    assert_eq!(places(&alice_elsewhere), vec!["cache"; objects]);
    let log = client_log(&alice_elsewhere);
    assert_eq!(log.matches("shared cache hit").count(), objects, "{log}");
    assert_eq!(dependency_files(&out), first_deps);

    if secure {
        // The farm made credentials for one user only.
        return;
    }
    // Bob is not served alice's manifests: he preprocesses, and the server answers
    // each job from the entries it stored.
    let bob = Scratch::new();
    build("bob", &bob);
    assert!(
        !cache_notes(&bob).iter().any(|n| n == "shared-hit"),
        "{:?}",
        cache_notes(&bob)
    );
    assert_eq!(places(&bob), vec!["farm"; objects]);
    assert_eq!(dependency_files(&out), first_deps);
}

/// A scheduler that cannot be reached costs the shared look-up once: while the user's
/// compiles avoid the scheduler, they do not try its cache either.
#[test]
fn an_unreachable_scheduler_is_not_asked_for_its_cache_again_and_again() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let closed = free_port();
    for name in ["a", "b", "c"] {
        let (source, object) = (format!("{name}.c"), format!("{name}.o"));
        scratch.write(&source, format!("int {name}(void) {{ return 1; }}\n"));
        ccfarm_ok_with(
            &scratch,
            &server.host(""),
            &[
                ("CCFARM_CACHE", "1"),
                ("CCFARM_SCHEDULER", &format!("127.0.0.1:{closed}")),
                ("CCFARM_SCHEDULER_RETRY", "0"),
            ],
            &["gcc", "-c", &source, "-o", &object],
        );
    }
    let log = client_log(&scratch);
    assert_eq!(log.matches("shared cache: ").count(), 1, "{log}");
    assert_eq!(compiled_by(&server), 3);
}
