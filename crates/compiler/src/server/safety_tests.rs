//! One refused command per `RefusalKind`, and the ordinary flags that must pass.

use super::*;
use RefusalKind as K;

fn argv(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(str::to_string).collect()
}

fn refusal(cmd: &str, protocol: u32) -> Refusal {
    match check_server_safety(&argv(cmd), protocol) {
        Err(r) => r,
        Ok(()) => panic!("{cmd} (protocol {protocol}) should be refused"),
    }
}

#[test]
fn refuses_each_kind() {
    // (command, protocol, offending argument, kind)
    let cases: &[(&str, u32, &str, RefusalKind)] = &[
        ("gcc -c a.i", 4, "protocol 4", K::UnsupportedProtocol),
        ("gcc -c a.i", 0, "protocol 0", K::UnsupportedProtocol),
        ("../bin/gcc -c a.i", 1, "../bin/gcc", K::CompilerPath),
        ("bin/gcc -c a.i", 1, "bin/gcc", K::CompilerPath),
        (
            "/usr/bin/../../tmp/evil -c a.i",
            1,
            "/usr/bin/../../tmp/evil",
            K::CompilerPath,
        ),
        (
            "/usr/bin/./gcc -c a.i",
            1,
            "/usr/bin/./gcc",
            K::CompilerPath,
        ),
        ("//usr/bin/gcc -c a.i", 1, "//usr/bin/gcc", K::CompilerPath),
        ("/usr/bin/ -c a.i", 1, "/usr/bin/", K::CompilerPath),
        ("-c a.i", 1, "-c", K::CompilerPath),
        (".. -c a.i", 1, "..", K::CompilerPath),
        ("gcc\\x -c a.i", 1, "gcc\\x", K::CompilerPath),
        (
            "gcc -fplugin=/tmp/evil.so -c a.i",
            2,
            "-fplugin=/tmp/evil.so",
            K::Plugin,
        ),
        (
            "gcc -fplugin-arg-evil-x=y -c a.i",
            2,
            "-fplugin-arg-evil-x=y",
            K::Plugin,
        ),
        (
            "clang -fpass-plugin=/x.so -c a.i",
            2,
            "-fpass-plugin=/x.so",
            K::Plugin,
        ),
        (
            "gcc -iplugindir=/tmp -c a.i",
            2,
            "-iplugindir=/tmp",
            K::Plugin,
        ),
        (
            "gcc -specs=/tmp/s -c a.i",
            1,
            "-specs=/tmp/s",
            K::SpecsOrConfig,
        ),
        ("gcc -specs /tmp/s -c a.i", 1, "-specs", K::SpecsOrConfig),
        (
            "gcc --specs=/tmp/s -c a.i",
            1,
            "--specs=/tmp/s",
            K::SpecsOrConfig,
        ),
        (
            "clang --config=/tmp/c.cfg -c a.i",
            1,
            "--config=/tmp/c.cfg",
            K::SpecsOrConfig,
        ),
        (
            "gcc -B/tmp/evil/ -c a.i",
            1,
            "-B/tmp/evil/",
            K::ProgramPrefix,
        ),
        ("gcc -B /tmp/evil/ -c a.i", 1, "-B", K::ProgramPrefix),
        (
            "gcc --prefix=/tmp/evil/ -c a.i",
            1,
            "--prefix=/tmp/evil/",
            K::ProgramPrefix,
        ),
        ("gcc --pre /tmp/evil/ -c a.i", 1, "--pre", K::ProgramPrefix),
        (
            "clang -ccc-install-dir /x -c a.i",
            1,
            "-ccc-install-dir",
            K::ProgramPrefix,
        ),
        (
            "clang --gcc-toolchain=/x -c a.i",
            1,
            "--gcc-toolchain=/x",
            K::ProgramPrefix,
        ),
        (
            "clang -resource-dir /x -c a.i",
            1,
            "-resource-dir",
            K::ProgramPrefix,
        ),
        (
            "gcc -fuse-ld=/tmp/ld -c a.i",
            1,
            "-fuse-ld=/tmp/ld",
            K::ProgramPrefix,
        ),
        (
            "gcc -wrapper /bin/sh,-c,x -c a.i",
            1,
            "-wrapper",
            K::Wrapper,
        ),
        (
            "gcc @/etc/shadow -c a.i",
            1,
            "@/etc/shadow",
            K::ResponseFile,
        ),
        ("gcc -c a.i -o @x", 1, "@x", K::ResponseFile),
        (
            "gcc -Xassembler -o -c a.i",
            1,
            "-Xassembler",
            K::PassThrough,
        ),
        (
            "gcc -Xpreprocessor -MD -c a.i",
            1,
            "-Xpreprocessor",
            K::PassThrough,
        ),
        ("gcc -Xlinker x -c a.i", 1, "-Xlinker", K::PassThrough),
        ("clang -Xclang -load -c a.i", 1, "-Xclang", K::PassThrough),
        (
            "clang -Xarch_x86_64 -fplugin -c a.i",
            1,
            "-Xarch_x86_64",
            K::PassThrough,
        ),
        (
            "clang -mllvm -info-output-file=/x -c a.i",
            1,
            "-mllvm",
            K::PassThrough,
        ),
        (
            "gcc -Wp,-MD,/etc/x -c a.i",
            1,
            "-Wp,-MD,/etc/x",
            K::PassThrough,
        ),
        (
            "gcc --for-assembler=x -c a.i",
            1,
            "--for-assembler=x",
            K::PassThrough,
        ),
        (
            "gcc -Wa,-alh=/tmp/x.lst -c a.i",
            1,
            "-Wa,-alh=/tmp/x.lst",
            K::AssemblerFileOption,
        ),
        (
            "gcc -Wa,--MD,/tmp/x.d -c a.i",
            1,
            "-Wa,--MD,/tmp/x.d",
            K::AssemblerFileOption,
        ),
        (
            "gcc -Wa,-o,/tmp/x -c a.i",
            1,
            "-Wa,-o,/tmp/x",
            K::AssemblerFileOption,
        ),
        (
            "gcc -Wa,-I/etc -c a.i",
            1,
            "-Wa,-I/etc",
            K::AssemblerFileOption,
        ),
        (
            "gcc -Wa,@/etc/x -c a.i",
            1,
            "-Wa,@/etc/x",
            K::AssemblerFileOption,
        ),
        (
            "gcc -dumpdir /tmp/ -c a.i",
            1,
            "-dumpdir",
            K::WritesChosenPath,
        ),
        (
            "gcc -dumpbase /tmp/x -c a.i",
            1,
            "-dumpbase",
            K::WritesChosenPath,
        ),
        (
            "gcc -aux-info /home/u/.bashrc -c a.i",
            1,
            "-aux-info",
            K::WritesChosenPath,
        ),
        (
            "gcc -fdump-tree-all=/tmp/x -c a.i",
            1,
            "-fdump-tree-all=/tmp/x",
            K::WritesChosenPath,
        ),
        (
            "gcc -fopt-info-vec=/tmp/x -c a.i",
            1,
            "-fopt-info-vec=/tmp/x",
            K::WritesChosenPath,
        ),
        (
            "gcc -time=/tmp/x -c a.i",
            1,
            "-time=/tmp/x",
            K::WritesChosenPath,
        ),
        (
            "clang -ftime-trace=/tmp/x -c a.i",
            1,
            "-ftime-trace=/tmp/x",
            K::WritesChosenPath,
        ),
        ("clang -MJ /tmp/x -c a.i", 3, "-MJ", K::WritesChosenPath),
        (
            "gcc --output=/tmp/x -c a.i",
            1,
            "--output=/tmp/x",
            K::WritesChosenPath,
        ),
        ("gcc --outp /tmp/x -c a.i", 1, "--outp", K::WritesChosenPath),
        ("gcc -save-temps -c a.i", 1, "-save-temps", K::SaveTemps),
        (
            "gcc -save-temps=cwd -c a.i",
            1,
            "-save-temps=cwd",
            K::SaveTemps,
        ),
        ("gcc --save-temps -c a.i", 1, "--save-temps", K::SaveTemps),
        (
            "gcc -fprofile-generate=/tmp -c a.i",
            1,
            "-fprofile-generate=/tmp",
            K::Profiling,
        ),
        (
            "gcc -fprofile-use=/etc -c a.i",
            1,
            "-fprofile-use=/etc",
            K::Profiling,
        ),
        (
            "gcc -fprofile-arcs -c a.i",
            1,
            "-fprofile-arcs",
            K::Profiling,
        ),
        ("gcc --coverage -c a.i", 1, "--coverage", K::Profiling),
        (
            "gcc -ftest-coverage -c a.i",
            1,
            "-ftest-coverage",
            K::Profiling,
        ),
        (
            "gcc -fauto-profile=/x -c a.i",
            1,
            "-fauto-profile=/x",
            K::Profiling,
        ),
        (
            "clang -fsanitize-ignorelist=/etc/shadow -c a.i",
            1,
            "-fsanitize-ignorelist=/etc/shadow",
            K::ReadsChosenFile,
        ),
        (
            "clang -include-pch /x.pch -c a.i",
            3,
            "-include-pch",
            K::ReadsChosenFile,
        ),
        (
            "gcc -include /etc/passwd -c a.i",
            1,
            "-include",
            K::ReadsChosenFile,
        ),
        (
            "gcc -imacros/etc/passwd -c a.i",
            2,
            "-imacros/etc/passwd",
            K::ReadsChosenFile,
        ),
        (
            "gcc --include=/etc/passwd -c a.i",
            3,
            "--include=/etc/passwd",
            K::ReadsChosenFile,
        ),
        ("gcc -MD -c a.i", 1, "-MD", K::DependencyOutput),
        ("gcc -MMD -c a.i", 2, "-MMD", K::DependencyOutput),
        (
            "gcc -MF /home/u/.profile -c a.i",
            1,
            "-MF",
            K::DependencyOutput,
        ),
        ("gcc -MT x -c a.i", 2, "-MT", K::DependencyOutput),
        ("gcc -MQ x -c a.i", 2, "-MQ", K::DependencyOutput),
        ("gcc -M -c a.c", 3, "-M", K::DependencyOutput),
        ("gcc -MM -c a.c", 3, "-MM", K::DependencyOutput),
        (
            "gcc --write-dependencies -c a.c",
            3,
            "--write-dependencies",
            K::DependencyOutput,
        ),
        ("g++ -fmodules-ts -c a.ii", 1, "-fmodules-ts", K::Modules),
        (
            "g++ -fmodule-mapper=|sh -c a.ii",
            1,
            "-fmodule-mapper=|sh",
            K::Modules,
        ),
        (
            "clang -fmodules-cache-path=/x -c a.ii",
            1,
            "-fmodules-cache-path=/x",
            K::Modules,
        ),
    ];
    for &(cmd, protocol, argument, kind) in cases {
        let r = refusal(cmd, protocol);
        assert_eq!(r.kind, kind, "{cmd}");
        assert_eq!(r.argument, argument, "{cmd}");
        if let Some(index) = r.index {
            assert_eq!(argv(cmd)[index], argument, "{cmd}");
        }
    }
}

#[test]
fn refuses_malformed_requests() {
    let r = check_server_safety(&[], 1).unwrap_err();
    assert_eq!((r.kind, r.index), (K::EmptyCommand, None));

    let nul = vec!["gcc".to_string(), "-c\0x".to_string(), "a.i".to_string()];
    let r = check_server_safety(&nul, 1).unwrap_err();
    assert_eq!((r.kind, r.index), (K::NulByte, Some(1)));

    let empty_compiler = vec![String::new(), "-c".to_string(), "a.i".to_string()];
    let r = check_server_safety(&empty_compiler, 1).unwrap_err();
    assert_eq!((r.kind, r.index), (K::CompilerPath, Some(0)));
}

#[test]
fn refusal_messages_name_argument_and_reason() {
    let r = refusal("gcc -fplugin=evil.so -c a.i", 1);
    assert_eq!(
        r.to_string(),
        "ccfarmd refuses `-fplugin=evil.so`: it loads a compiler plugin chosen by the client"
    );
    let r = refusal("gcc -MF x -c a.i", 2);
    assert!(r.to_string().contains("strips dependency options"));
}

#[test]
fn allows_what_real_builds_send() {
    let protocol_1_2 = [
        // distcc's own example, after stripping
        "gcc -c hello.i -o hello.o",
        "x86_64-linux-gnu-gcc -c /tmp/distccd_5ab52281.i -o /tmp/distccd_5a392281.o",
        "/usr/bin/cc -O3 -DNDEBUG -o CMakeFiles/app.dir/src/main.c.o -c main.c",
        "/usr/lib/ccache/gcc -g -O2 -Wall -Wextra -Werror=format-security -c a.c -o a.o",
        "cc -pipe -fPIC -fstack-protector-strong -fno-plt -std=gnu11 -c a.c",
        "g++ -std=c++20 -O2 -g -fvisibility=hidden -fno-exceptions -c a.cc",
        "gcc -march=x86-64-v3 -mtune=generic -mavx2 -m64 -c a.c",
        "gcc -x c -c foo -o foo.o",
        "gcc -S -c a.c",
        "gcc -DFOO=1 -UBAR -Iinclude -I/usr/include/x -c a.c",
        "gcc -Wa,--noexecstack -Wa,-mrelax-relocations=no -Wa,--compress-debug-sections -c a.c",
        "gcc -Wl,-z,relro -lm -L/usr/lib -c a.c",
        "gcc --sysroot=/opt/sdk -isysroot /opt/sdk -c a.c",
        "gcc --param=ssp-buffer-size=4 --param max-inline-insns-single=100 -c a.c",
        "gcc -ffile-prefix-map=/home/u=. -fdebug-prefix-map=/a=/b -c a.c",
        "gcc -fstack-usage -fcallgraph-info=su,da -gsplit-dwarf -fdump-tree-optimized -c a.c",
        "gcc -fdiagnostics-color=always -fmessage-length=0 -c a.c",
        "gcc -flto=auto -ffat-lto-objects -fno-semantic-interposition -c a.c",
        "gcc -fsanitize=address,undefined -fno-omit-frame-pointer -c a.c",
        "clang -target aarch64-linux-gnu --target=aarch64-linux-gnu -c a.c",
        "clang -fcolor-diagnostics -ftime-trace -ftime-trace-granularity=50 -c a.c",
        "gcc -fno-profile-arcs -fno-modules -c a.c",
        "gcc -pg -p -g3 -gdwarf-5 -c a.c",
        "gcc -v -H -c a.c",
        "gcc --std=c11 --pedantic --pipe -c a.c",
        "gcc -fopt-info-vec-missed -c a.c",
        "/usr/bin/gcc-12 -c a.c",
        "gcc -I/usr/include/foo -isystem /opt/x -iquote . -idirafter /late -c a.c",
    ];
    for cmd in protocol_1_2 {
        for protocol in [1, 2, 3] {
            assert_eq!(
                check_server_safety(&argv(cmd), protocol),
                Ok(()),
                "{cmd} (protocol {protocol})"
            );
        }
    }
    let pump_only = [
        "gcc -MD -MT a.o -MF a.d -c a.c",
        "gcc -MMD -MP -MQ $(x) -MTjoined -MFjoined.d -MG -c a.c",
        "gcc -include config.h -imacros m.h -c a.c",
    ];
    for cmd in pump_only {
        assert_eq!(check_server_safety(&argv(cmd), 3), Ok(()), "{cmd}");
        assert!(check_server_safety(&argv(cmd), 1).is_err(), "{cmd}");
    }
}

#[test]
fn every_kind_explains_itself() {
    let kinds = [
        K::EmptyCommand,
        K::UnsupportedProtocol,
        K::NulByte,
        K::CompilerPath,
        K::Plugin,
        K::SpecsOrConfig,
        K::ProgramPrefix,
        K::Wrapper,
        K::ResponseFile,
        K::PassThrough,
        K::AssemblerFileOption,
        K::WritesChosenPath,
        K::SaveTemps,
        K::Profiling,
        K::ReadsChosenFile,
        K::DependencyOutput,
        K::Modules,
    ];
    for kind in kinds {
        assert!(kind.to_string().len() > 20, "{kind:?}");
    }
}

mod properties {
    use super::super::check_server_safety;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn never_panics(args in prop::collection::vec(any::<String>(), 0..8), protocol in 0u32..5) {
            let _ = check_server_safety(&args, protocol);
        }
    }
}
