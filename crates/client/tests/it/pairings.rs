//! All four client/server pairings, plain and `,lzo`, fallback off: ccfarm→ccfarmd,
//! ccfarm→distccd, distcc→ccfarmd, and the distcc→distccd baseline. Every object must
//! be byte-identical to a local compile.

use ccfarm_testkit::*;

use crate::common::*;

const SRC_C: &str =
    "#include <stdio.h>\n#include \"msg.h\"\nint main(void) { puts(MSG); return 0; }\n";
const MSG_H: &str = "#define MSG \"paired\"\n";
const SRC_CXX: &str = "#include <string>\n#include <map>\nint count(const std::string& s) { std::map<char,int> m; for (char c : s) m[c]++; return (int)m.size(); }\n";

#[test]
fn four_pairings_plain_and_lzo() {
    let ccfarmd = Server::start(&[]);
    let distccd = Distccd::start(&[]);
    let scratch = Scratch::new();
    scratch.write("p.c", SRC_C);
    scratch.write("msg.h", MSG_H);
    scratch.write("q.cpp", SRC_CXX);
    assert!(
        run(&scratch, "gcc", &["-O2", "-c", "p.c", "-o", "local_p.o"])
            .status
            .success()
    );
    assert!(
        run(&scratch, "g++", &["-O2", "-c", "q.cpp", "-o", "local_q.o"])
            .status
            .success()
    );
    let local_p = scratch.read("local_p.o");
    let local_q = scratch.read("local_q.o");

    for opts in ["", ",lzo"] {
        for (server, hosts) in [
            ("ccfarmd", ccfarmd.host(opts)),
            ("distccd", distccd.host(opts)),
        ] {
            let tag = format!("{server}{opts}");
            ccfarm_ok(
                &scratch,
                &hosts,
                &["gcc", "-O2", "-c", "p.c", "-o", &format!("cf_{tag}.o")],
            );
            assert_eq!(
                scratch.read(&format!("cf_{tag}.o")),
                local_p,
                "ccfarm -> {tag}"
            );
            ccfarm_ok(
                &scratch,
                &hosts,
                &["g++", "-O2", "-c", "q.cpp", "-o", &format!("cfq_{tag}.o")],
            );
            assert_eq!(
                scratch.read(&format!("cfq_{tag}.o")),
                local_q,
                "ccfarm -> {tag} (C++)"
            );

            distcc_ok(
                &scratch,
                &hosts,
                &["gcc", "-O2", "-c", "p.c", "-o", &format!("dc_{tag}.o")],
            );
            assert_eq!(
                scratch.read(&format!("dc_{tag}.o")),
                local_p,
                "distcc -> {tag}"
            );
        }
    }
    // Both servers really did the work.
    assert_eq!(ccfarmd.status()["results"]["compile_ok"], 6);
    assert_eq!(
        distccd.log().matches("COMPILE_OK").count(),
        6,
        "{}",
        distccd.log()
    );
    ccfarmd.assert_no_leftovers();
}
