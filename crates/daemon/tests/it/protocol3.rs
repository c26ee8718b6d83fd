//! Protocol 3 ("pump") requests, built with ccfarm's own encoder (Debian's pump mode
//! is broken on Python 3.11), and hostile trees that must be refused.

use bytes::{Bytes, BytesMut};
use ccfarm_proto::distcc::{
    Limits, Payload, Reply, ReplyDecoder, Request, TreeEntry, TreeEntryKind, Version,
};

use ccfarm_testkit::*;

fn file(name: &str, contents: &str) -> TreeEntry {
    TreeEntry {
        name: Bytes::copy_from_slice(name.as_bytes()),
        kind: TreeEntryKind::File(Bytes::copy_from_slice(contents.as_bytes())),
    }
}

fn link(name: &str, target: &str) -> TreeEntry {
    TreeEntry {
        name: Bytes::copy_from_slice(name.as_bytes()),
        kind: TreeEntryKind::Link(Bytes::copy_from_slice(target.as_bytes())),
    }
}

fn request(cwd: &str, argv: &[&str], entries: Vec<TreeEntry>) -> Request {
    Request {
        version: Version::V3,
        argv: argv
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect(),
        payload: Payload::Tree {
            cwd: Bytes::copy_from_slice(cwd.as_bytes()),
            entries,
        },
    }
}

fn send(server: &Server, request: &Request) -> Reply {
    let wire = server.exchange(&request.encode());
    let mut buf = BytesMut::from(&wire[..]);
    ReplyDecoder::new(Version::V3, Limits::default())
        .decode(&mut buf)
        .unwrap()
        .unwrap_or_else(|| panic!("incomplete reply: {:?}", String::from_utf8_lossy(&wire)))
}

/// The reply is a success whose object is `local`'s, the same compile's run here.
fn assert_compiled_like(reply: &Reply, local: &[u8]) {
    assert_eq!(
        reply.status,
        0,
        "{}",
        String::from_utf8_lossy(&reply.stderr)
    );
    assert_eq!(
        reply.object.as_ref(),
        local,
        "object differs from the local build"
    );
}

const MAIN_C: &str =
    "#include \"config.h\"\n#include <util.h>\nint main(void) { return VALUE + twice(2); }\n";
const CONFIG_H: &str = "#define VALUE 40\n";
const UTIL_H: &str = "static inline int twice(int x) { return 2 * x; }\n";

#[test]
fn a_pump_request_compiles_like_a_local_build() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    // The same tree on the local disk, for the reference build.
    scratch.write("proj/src/main.c", MAIN_C);
    scratch.write("proj/src/config.h", CONFIG_H);
    scratch.write("proj/include/util.h", UTIL_H);
    let src = scratch.path().join("proj/src");
    let local = std::process::Command::new("gcc")
        .args(["-I../include", "-O2", "-c", "main.c", "-o", "main.o"])
        .current_dir(&src)
        .output()
        .unwrap();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let local_object = std::fs::read(src.join("main.o")).unwrap();

    let req = request(
        "/home/dev/proj/src",
        &["gcc", "-I../include", "-O2", "-c", "main.c", "-o", "main.o"],
        vec![
            file("/home/dev/proj/src/main.c", MAIN_C),
            file("/home/dev/proj/src/config.h", CONFIG_H),
            // The include directory reached through a symlink, as pump ships it.
            file("/home/dev/real-include/util.h", UTIL_H),
            link("/home/dev/proj/include", "../real-include"),
        ],
    );
    let reply = send(&server, &req);
    assert_compiled_like(&reply, &local_object[..]);
    let dotd = String::from_utf8(reply.dotd.expect("v3 success carries DOTD").to_vec()).unwrap();
    assert!(dotd.starts_with("main.o:"), "{dotd}");
    assert!(
        dotd.contains("main.c") && dotd.contains("config.h") && dotd.contains("util.h"),
        "{dotd}"
    );
    assert!(
        !dotd.contains(server.jobs_dir.to_str().unwrap()),
        "server paths leak into the .d: {dotd}"
    );
    server.assert_no_leftovers();
}

#[test]
fn hostile_trees_are_refused_with_a_reason() {
    let server = Server::start(&[]);
    let outside = Scratch::new();
    let victim = outside.path().join("pwned");
    let victim_str = victim.to_str().unwrap();
    let argv = ["gcc", "-c", "x.c", "-o", "x.o"];
    let cases: Vec<(Vec<TreeEntry>, &str)> = vec![
        (
            vec![
                file("/src/x.c", "int x;"),
                file("/src/../../../../../../../../x", "boom"),
            ],
            "`..`",
        ),
        (
            vec![
                file("/src/x.c", "int x;"),
                file(&format!("/../../../../../../..{victim_str}"), "boom"),
            ],
            "`..`",
        ),
        (vec![file("relative/x.c", "int x;")], "not absolute"),
        (
            vec![
                file("/src/x.c", "int x;"),
                link("/src/out", "../../../../../../../../.."),
            ],
            "leaves the root",
        ),
        (
            vec![link("/src/dir", "/"), file("/src/dir/x.c", "int x;")],
            "below a symlink",
        ),
    ];
    for (entries, why) in cases {
        let reply = send(&server, &request("/src", &argv, entries.clone()));
        let stderr = String::from_utf8_lossy(&reply.stderr);
        assert_ne!(reply.status, 0, "{entries:?} was accepted");
        assert!(
            stderr.contains("ccfarmd: refusing") && stderr.contains(why),
            "{entries:?}: {stderr}"
        );
        assert!(reply.object.is_empty());
    }
    assert!(!victim.exists(), "a file was written outside the job root");
    let status = server.status();
    assert_eq!(status["results"]["refused_tree"], 5, "{status}");
    assert!(
        server.log().contains("category=\"refused_tree\"")
            || server.log().contains("category=refused_tree"),
        "{}",
        server.log()
    );
    server.assert_no_leftovers();
}

/// gcc's system include directories as it prints them (`-E -v`), which is where
/// distcc's include server finds them on the client.
fn gcc_system_dirs() -> Vec<String> {
    let out = std::process::Command::new("gcc")
        .args(["-E", "-v", "-x", "c", "/dev/null"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut inside = false;
    let mut dirs = Vec::new();
    for line in stderr.lines() {
        if line.starts_with("#include <...> search starts here:") {
            inside = true;
        } else if line.starts_with("End of search list.") {
            inside = false;
        } else if inside {
            dirs.push(line.trim().to_owned());
        }
    }
    assert!(
        !dirs.is_empty(),
        "gcc named no system directories: {stderr}"
    );
    dirs
}

/// The link distcc's include server puts at a system directory's place
/// (`include_server/compiler_defaults.py`): `../` for twenty root components plus the
/// directory's own depth, then the directory again, so that the server compiles
/// against its own system headers.
fn include_server_link(dir: &str) -> TreeEntry {
    let depth = dir.matches('/').count();
    link(dir, &format!("{}{}", "../".repeat(20 + depth), &dir[1..]))
}

#[test]
fn the_include_servers_links_to_system_directories_compile_against_the_servers_headers() {
    let server = Server::start(&[]);
    let scratch = Scratch::new();
    let source = "#include <stddef.h>\n#include <limits.h>\n#include <stdio.h>\nsize_t n = CHAR_BIT + offsetof(struct { int a; char b; }, b);\nint main(void) { return printf(\"%zu\\n\", n) < 0; }\n";
    scratch.write("main.c", source);
    let local = run(&scratch, "gcc", &["-O2", "-c", "main.c", "-o", "main.o"]);
    assert!(local.status.success());
    let mut entries = vec![file("/home/dev/p/main.c", source)];
    // One link covers the directories below it (`/usr/include` covers
    // `/usr/include/x86_64-linux-gnu`), as the include server sends them.
    let dirs = gcc_system_dirs();
    let outermost = dirs.iter().filter(|d| {
        !dirs
            .iter()
            .any(|other| other != *d && d.starts_with(&format!("{other}/")))
    });
    entries.extend(outermost.map(|d| include_server_link(d)));
    let argv = ["gcc", "-O2", "-c", "main.c", "-o", "main.o"];
    let reply = send(&server, &request("/home/dev/p", &argv, entries));
    assert_compiled_like(&reply, &scratch.read("main.o")[..]);
    let dotd = String::from_utf8(reply.dotd.expect("v3 success carries DOTD").to_vec()).unwrap();
    assert!(
        dotd.starts_with("main.o:") && dotd.contains("main.c"),
        "{dotd}"
    );
    assert!(
        !dotd.contains(server.jobs_dir.to_str().unwrap()),
        "server paths leak into the .d: {dotd}"
    );

    // The same shape of link to anywhere else is refused.
    let entries = vec![
        file("/home/dev/p/main.c", "int x;"),
        include_server_link("/etc"),
    ];
    let reply = send(&server, &request("/home/dev/p", &argv, entries));
    assert_ne!(reply.status, 0);
    let stderr = String::from_utf8_lossy(&reply.stderr);
    assert!(
        stderr.contains("not into one of the server's system directories"),
        "{stderr}"
    );
    server.assert_no_leftovers();
}

/// A request captured from distcc's real include server (distcc built from its source
/// at f4a7147; `pump distcc gcc -Iinclude -std=c11 -O2 -Wall -Wextra -c src/json.c` in
/// demo/strkit, recorded by scripts/record-proxy.py): the project's headers, `,lzo`
/// compressed, and the include server's links out of the root to gcc's system
/// directories (`../` 26 times, then `usr/lib/gcc/x86_64-linux-gnu/12/include`).
const CAPTURED: &[u8] = include_bytes!("../fixtures/pump/strkit-json.request");

#[test]
fn a_request_captured_from_distccs_include_server_compiles_like_a_local_build() {
    let request = ccfarm_proto::distcc::RequestDecoder::new(Limits::default())
        .decode(&mut BytesMut::from(CAPTURED))
        .unwrap()
        .expect("a whole request");
    let Payload::Tree { cwd, entries } = &request.payload else {
        panic!("not a protocol-3 request");
    };
    let links: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.kind {
            TreeEntryKind::Link(target) => Some(String::from_utf8_lossy(target).into_owned()),
            TreeEntryKind::File(_) => None,
        })
        .collect();
    assert!(
        links
            .iter()
            .any(|t| t.starts_with("../../../../../../../../../../")),
        "the fixture has no link out of the root: {links:?}"
    );

    // The same files on the local disk, for the reference build.
    let scratch = Scratch::new();
    for entry in entries {
        if let TreeEntryKind::File(data) = &entry.kind {
            let path = scratch
                .path()
                .join(String::from_utf8_lossy(&entry.name).trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, data).unwrap();
        }
    }
    let dir = scratch
        .path()
        .join(String::from_utf8_lossy(cwd).trim_start_matches('/'));
    let argv: Vec<String> = request
        .argv
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let output = argv
        .iter()
        .position(|a| a == "-o")
        .map(|i| argv[i + 1].clone())
        .expect("-o");
    std::fs::create_dir_all(dir.join(&output).parent().unwrap()).unwrap();
    let local = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );

    let server = Server::start(&[]);
    let reply = send(&server, &request);
    assert_compiled_like(&reply, &std::fs::read(dir.join(&output)).unwrap()[..]);
    server.assert_no_leftovers();
}
