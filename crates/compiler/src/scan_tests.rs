//! Table-driven tests for `scan_args`: distcc's `ScanArgs_Case` golden table, real build
//! system command lines, and one case per `LocalReason`.

use super::*;
use crate::lang::Language;
use crate::rules::LocalReason as L;
use proptest::prelude::*;

fn argv(cmd: &str) -> Vec<String> {
    cmd.split_whitespace().map(str::to_string).collect()
}

fn job(cmd: &str) -> CompileJob {
    match scan_args(&argv(cmd)) {
        Classification::Distributable(job) => job,
        Classification::Local(reason) => panic!("{cmd}: expected distributable, got {reason}"),
    }
}

fn reason(cmd: &str) -> LocalReason {
    match scan_args(&argv(cmd)) {
        Classification::Local(reason) => reason,
        Classification::Distributable(job) => panic!("{cmd}: expected local, got {job:?}"),
    }
}

enum Want {
    Dist(&'static str, &'static str),
    Local,
}
use Want::*;

fn check_table(cases: &[(&str, Want)]) {
    for (cmd, want) in cases {
        match want {
            Dist(input, output) => {
                let job = job(cmd);
                assert_eq!(job.input, *input, "{cmd}: input");
                assert_eq!(job.output, *output, "{cmd}: output");
                assert_eq!(argv(cmd)[job.input_index], *input, "{cmd}: input index");
            }
            Local => {
                reason(cmd);
            }
        }
    }
}

/// distcc's `ScanArgs_Case` and `ImplicitCompilerScan_Case` (test/testdistcc.py). Commands
/// that name no compiler get `cc`, since inserting the implicit compiler is the client's
/// job and `scan_args` always reads argv[0] as the compiler.
#[test]
fn distcc_golden_table() {
    check_table(&[
        ("gcc -c hello.c", Dist("hello.c", "hello.o")),
        ("gcc hello.c", Local),
        (
            "gcc -o /tmp/hello.o -c ../src/hello.c",
            Dist("../src/hello.c", "/tmp/hello.o"),
        ),
        (
            "gcc -DMYNAME=quasibar.c bar.c -c -o bar.o",
            Dist("bar.c", "bar.o"),
        ),
        ("gcc -ohello.o -c hello.c", Dist("hello.c", "hello.o")),
        ("ccache gcc -c hello.c", Dist("hello.c", "hello.o")),
        ("gcc hello.o", Local),
        ("gcc -o hello.o hello.c", Local),
        ("gcc -o hello.o -c hello.s", Local),
        ("gcc -o hello.o -c hello.S", Local),
        ("gcc -fprofile-arcs -ftest-coverage -c hello.c", Local),
        ("gcc -S hello.c", Dist("hello.c", "hello.s")),
        ("gcc -c -S hello.c", Dist("hello.c", "hello.s")),
        ("gcc -S -c hello.c", Dist("hello.c", "hello.s")),
        ("gcc -M hello.c", Local),
        ("gcc -ME hello.c", Local),
        ("gcc -MD -c hello.c", Dist("hello.c", "hello.o")),
        ("gcc -MMD -c hello.c", Dist("hello.c", "hello.o")),
        ("gcc -S foo.c -o -", Local),
        ("cc -S -o - foo.c", Local),
        ("cc -c -S -o - foo.c", Local),
        ("cc -S -c -o - foo.c", Local),
        ("gcc -ofoo.o foo.c -c", Dist("foo.c", "foo.o")),
        ("gcc -ofoo foo.o", Local),
        ("cc foo.c -o foo.o", Local),
        ("cc foo.c -o foo.o -c", Dist("foo.c", "foo.o")),
        ("gcc -Wa,-alh,-a=foo.lst -c foo.c", Local),
        ("gcc -Wa,--MD -c foo.c", Local),
        ("gcc -Wa,-xarch=v8 -c foo.c", Dist("foo.c", "foo.o")),
        ("g++ -frepo foo.C", Local),
        ("gcc -xassembler-with-cpp -c foo.c", Local),
        ("gcc -x assembler-with-cpp -c foo.c", Local),
        ("gcc -specs=foo.specs -c foo.c", Local),
        ("gcc -dr -c foo.c", Local),
        // ImplicitCompilerScan_Case
        ("cc -c hello.c", Dist("hello.c", "hello.o")),
        ("cc hello.c -c", Dist("hello.c", "hello.o")),
        ("cc -o hello.o -c hello.c", Dist("hello.c", "hello.o")),
    ]);
}

#[test]
fn everyday_command_lines() {
    check_table(&[
        ("gcc -c hello.c -o hello.o", Dist("hello.c", "hello.o")),
        ("gcc -o hello.o -c hello.c", Dist("hello.c", "hello.o")),
        ("gcc -c -o hello.o hello.c", Dist("hello.c", "hello.o")),
        ("gcc -c hello.c -otest.o", Dist("hello.c", "test.o")),
        ("gcc -c hello.c -o /dev/null", Dist("hello.c", "/dev/null")),
        ("gcc -c src/dir/hello.c", Dist("src/dir/hello.c", "hello.o")),
        ("gcc -S src/hello.c", Dist("src/hello.c", "hello.s")),
        ("gcc -c hello.2.4.c", Dist("hello.2.4.c", "hello.2.4.o")),
        ("gcc -c /abs/x.c", Dist("/abs/x.c", "x.o")),
        ("g++ -std=c++20 -O2 -c a.cc", Dist("a.cc", "a.o")),
        ("clang++ -c a.cxx -o a.o", Dist("a.cxx", "a.o")),
        ("g++ -c a.C", Dist("a.C", "a.o")),
        ("g++ -c a.c++", Dist("a.c++", "a.o")),
        ("g++ -c a.cp", Dist("a.cp", "a.o")),
        ("clang -c a.m", Dist("a.m", "a.o")),
        ("clang -c a.mm", Dist("a.mm", "a.o")),
        ("clang -c a.M", Dist("a.M", "a.o")),
        ("gcc -c a.i", Dist("a.i", "a.o")),
        ("g++ -c a.ii", Dist("a.ii", "a.o")),
        ("gcc -x c -c foo", Dist("foo", "foo.o")),
        ("gcc -xc -c foo.txt", Dist("foo.txt", "foo.o")),
        ("gcc -x c++ -c foo.inc -o foo.o", Dist("foo.inc", "foo.o")),
        ("gcc -x c -c foo.S", Dist("foo.S", "foo.o")),
        ("gcc -c foo.S -x c", Local),
        ("gcc -x c -c foo.c -x none", Dist("foo.c", "foo.o")),
        ("gcc -x c -include cfg.h -c foo.c", Dist("foo.c", "foo.o")),
        (
            "gcc -x c -c foo -MT foo.o -MF foo.d -MD",
            Dist("foo", "foo.o"),
        ),
        ("gcc -x none -c foo.c", Dist("foo.c", "foo.o")),
        (
            "gcc -march=x86-64-v3 -mtune=generic -c a.c",
            Dist("a.c", "a.o"),
        ),
        (
            "gcc -c a.c -Wl,-rpath,/x -lm -L/usr/lib",
            Dist("a.c", "a.o"),
        ),
        (
            "gcc -pipe -fPIC -g -Wall -Wextra -c a.c",
            Dist("a.c", "a.o"),
        ),
        ("gcc -Wp,-MD,.a.o.d -c a.c -o a.o", Dist("a.c", "a.o")),
        ("gcc -Wp,-DX,-UY -c a.c", Dist("a.c", "a.o")),
        ("gcc -Wp,-M -c a.c", Local),
        ("gcc -Wp,-MD,x.c -c a.c", Dist("a.c", "a.o")),
        ("gcc -c -c a.c", Dist("a.c", "a.o")),
        ("gcc -I include -D X -U Y -c a.c", Dist("a.c", "a.o")),
        ("gcc -c a.c -MT a.c.o -MQ b.o", Dist("a.c", "a.o")),
        ("gcc -c a.c -include x.c", Dist("a.c", "a.o")),
        ("gcc -c a.c -Xlinker b.c", Dist("a.c", "a.o")),
        ("gcc -c a.c -Xassembler --noexecstack", Dist("a.c", "a.o")),
        ("gcc -c a.c -Xassembler -alh", Local),
        ("gcc -c a.c -o", Local),
    ]);
}

#[test]
fn cmake_command_lines() {
    let cmd = "/usr/bin/cc -DFOO -I/x/include -O3 -DNDEBUG -o CMakeFiles/app.dir/src/main.c.o \
               -c /abs/src/main.c";
    let j = job(cmd);
    assert_eq!(j.compiler, "/usr/bin/cc");
    assert_eq!(j.input, "/abs/src/main.c");
    assert_eq!(j.input_index, 8);
    assert_eq!(j.output, "CMakeFiles/app.dir/src/main.c.o");
    assert_eq!(
        j.output_arg,
        Some(ArgPosition {
            index: 5,
            form: ArgForm::Separate
        })
    );
    assert_eq!(j.mode, Mode::Compile);
    assert_eq!(j.language, Language::C);
    assert!(!j.preprocessed);
    assert_eq!(j.deps, Dependencies::default());
    assert_eq!(j.dep_file(), None);

    let cmd = "/usr/bin/c++ -DFOO -I/x/include -O3 -DNDEBUG -std=gnu++17 -MD \
               -MT CMakeFiles/app.dir/src/main.cpp.o -MF CMakeFiles/app.dir/src/main.cpp.o.d \
               -o CMakeFiles/app.dir/src/main.cpp.o -c /abs/src/main.cpp";
    let j = job(cmd);
    assert_eq!(j.language, Language::Cxx);
    assert_eq!(j.output, "CMakeFiles/app.dir/src/main.cpp.o");
    assert_eq!(j.deps.style, Some(DepStyle::AllHeaders));
    assert_eq!(
        j.deps.file.as_deref(),
        Some("CMakeFiles/app.dir/src/main.cpp.o.d")
    );
    assert_eq!(
        j.deps.targets,
        vec![DepTarget::Plain("CMakeFiles/app.dir/src/main.cpp.o".into())]
    );
    assert_eq!(
        j.dep_file().as_deref(),
        Some("CMakeFiles/app.dir/src/main.cpp.o.d")
    );
    assert_eq!(j.dep_target(), "CMakeFiles/app.dir/src/main.cpp.o");
}

#[test]
fn autotools_and_libtool_command_lines() {
    let j =
        job("gcc -DHAVE_CONFIG_H -I. -g -O2 -MT foo.o -MD -MP -MF .deps/foo.Tpo -c -o foo.o foo.c");
    assert_eq!((j.input.as_str(), j.output.as_str()), ("foo.c", "foo.o"));
    assert_eq!(j.deps.style, Some(DepStyle::AllHeaders));
    assert!(j.deps.phony_headers);
    assert_eq!(j.deps.file.as_deref(), Some(".deps/foo.Tpo"));
    assert_eq!(j.deps.targets, vec![DepTarget::Plain("foo.o".into())]);

    let j = job(
        "gcc -DHAVE_CONFIG_H -I. -I.. -g -O2 -MT libfoo_la-foo.lo -MD -MP -MF .deps/libfoo_la-foo.Tpo \
         -c foo.c -fPIC -DPIC -o .libs/libfoo_la-foo.o",
    );
    assert_eq!(j.output, ".libs/libfoo_la-foo.o");
    assert_eq!(j.dep_target(), "libfoo_la-foo.lo");

    // libtool's second, non-PIC compile
    let j = job("gcc -DHAVE_CONFIG_H -I. -g -O2 -c foo.c -o libfoo_la-foo.o >/dev/null 2>&1");
    assert_eq!(j.output, "libfoo_la-foo.o");

    // autoconf probes
    assert_eq!(
        reason("gcc -c -g -O2 conftest.c"),
        L::Conftest("conftest.c".into())
    );
    assert_eq!(
        reason("gcc -o conftest -g -O2 conftest.c"),
        L::NoCompileFlag
    );
}

#[test]
fn kernel_style_command_line() {
    let cmd = "gcc -Wp,-MMD,drivers/net/.foo.o.d -nostdinc -isystem /usr/lib/gcc/include \
               -I./arch/x86/include -include ./include/linux/kconfig.h -D__KERNEL__ \
               -Wall -fno-common -O2 -DKBUILD_BASENAME='\"foo\"' -c -o drivers/net/foo.o \
               drivers/net/foo.c";
    let j = job(cmd);
    assert_eq!(j.input, "drivers/net/foo.c");
    assert_eq!(j.output, "drivers/net/foo.o");
    assert_eq!(j.deps.style, Some(DepStyle::UserHeaders));
    assert_eq!(j.deps.file.as_deref(), Some("drivers/net/.foo.o.d"));
}

#[test]
fn fields_of_a_job() {
    let j = job("gcc -c hello.c -otest.o");
    assert_eq!(
        j.output_arg,
        Some(ArgPosition {
            index: 3,
            form: ArgForm::Joined
        })
    );
    assert_eq!(j.output_arg.map(|p| p.value_index()), Some(3));
    assert!(j.output_is_explicit());

    let j = job("gcc -o out.o -c hello.c");
    assert_eq!(j.output_arg.map(|p| p.value_index()), Some(2));

    let j = job("gcc -c hello.c");
    assert_eq!(j.output_arg, None);
    assert!(!j.output_is_explicit());

    let j = job("gcc -S -c x.c -o x.s");
    assert_eq!(j.mode, Mode::Assemble);

    let j = job("gcc -c x.mii");
    assert_eq!((j.language, j.preprocessed), (Language::ObjCxx, true));
    assert_eq!(j.language_arg, None);

    let j = job("gcc -x c++-cpp-output -c x.txt");
    assert_eq!((j.language, j.preprocessed), (Language::Cxx, true));
    assert_eq!(
        j.language_arg,
        Some(ArgPosition {
            index: 1,
            form: ArgForm::Separate
        })
    );

    let j = job("gcc -xobjective-c -c x");
    assert_eq!((j.language, j.preprocessed), (Language::ObjC, false));
    assert_eq!(
        j.language_arg,
        Some(ArgPosition {
            index: 1,
            form: ArgForm::Joined
        })
    );

    // The -x that applies is the last one before the input.
    let j = job("gcc -x c++ -x c -c x");
    assert_eq!(j.language, Language::C);
    assert_eq!(j.language_arg.map(|p| p.index), Some(3));

    let j = job("gcc -MMD -MD -MG -MQ $(objdir)/a.o -MTjoined -MFjoined.d -c a.c");
    assert_eq!(j.deps.style, Some(DepStyle::AllHeaders));
    assert!(j.deps.missing_headers_ok);
    assert_eq!(
        j.deps.targets,
        vec![
            DepTarget::Quoted("$(objdir)/a.o".into()),
            DepTarget::Plain("joined".into())
        ]
    );
    assert_eq!(j.dep_target(), "$$(objdir)/a.o joined");
    assert_eq!(j.dep_file().as_deref(), Some("joined.d"));
}

#[test]
fn dependency_file_names_follow_gcc() {
    // distcc's DotD_Case, checked there against what gcc really writes.
    let cases = [
        ("gcc -c foo.c -o hello.o -MD", Some("hello.d"), "hello.o"),
        (
            "gcc -c foo.c -o hello.bar.foo -MD",
            Some("hello.bar.d"),
            "hello.bar.foo",
        ),
        ("gcc -c foo.c -o hello.o", None, "hello.o"),
        ("gcc -c foo.c -MD", Some("foo.d"), "foo.o"),
        ("gcc -c foo.c -o hello. -MD", Some("hello.d"), "hello."),
        (
            "gcc -c foo.c -o hello.o -MD -MT tootoo",
            Some("hello.d"),
            "tootoo",
        ),
        (
            "gcc -c foo.c -o hello.o -MD -MF foobar",
            Some("foobar"),
            "hello.o",
        ),
        // distcc's bug (notes §3.3): the .d goes next to the object, not into the cwd.
        (
            "gcc -MD -c src/foo.c -o obj/foo.o",
            Some("obj/foo.d"),
            "obj/foo.o",
        ),
        ("gcc -MMD -c src/foo.c", Some("foo.d"), "foo.o"),
    ];
    for (cmd, file, target) in cases {
        let j = job(cmd);
        assert_eq!(j.dep_file().as_deref(), file, "{cmd}");
        assert_eq!(j.dep_target(), target, "{cmd}");
    }
    let spaced: Vec<String> = ["gcc", "-c", "foo.c", "-o", "my dir/my obj.o", "-MD"]
        .map(String::from)
        .to_vec();
    let j = scan_args(&spaced).job().cloned().expect("distributable");
    assert_eq!(j.dep_file().as_deref(), Some("my dir/my obj.d"));
    assert_eq!(j.dep_target(), "my\\ dir/my\\ obj.o");
}

#[test]
fn make_quoting_matches_gcc_mq() {
    assert_eq!(make_quote("plain.o"), "plain.o");
    assert_eq!(make_quote("$(x).o"), "$$(x).o");
    assert_eq!(make_quote("a b.o"), "a\\ b.o");
    assert_eq!(make_quote("a\tb"), "a\\\tb");
    assert_eq!(make_quote("a\\ b"), "a\\\\\\ b");
    assert_eq!(make_quote("a#b"), "a\\#b");
    assert_eq!(make_quote("a\\b"), "a\\b");
}

/// One command per `LocalReason` variant.
#[test]
fn every_local_reason() {
    let cases: Vec<(&str, LocalReason)> = vec![
        ("-c hello.c", L::MissingCompiler),
        ("gcc -c @args.rsp", L::ResponseFile("@args.rsp".into())),
        ("gcc -c hello.c -o @out", L::ResponseFile("@out".into())),
        ("gcc -E hello.c", L::PreprocessOnly),
        ("gcc -c hello.c -E", L::PreprocessOnly),
        ("gcc --preprocess -c hello.c", L::PreprocessOnly),
        ("gcc -M hello.c", L::DependencyOnly("-M".into())),
        ("gcc -MM -c hello.c", L::DependencyOnly("-MM".into())),
        ("gcc -c a.c -MJ a.json", L::DependencyOnly("-MJ".into())),
        (
            "gcc -march=native -c a.c",
            L::NativeArch("-march=native".into()),
        ),
        (
            "gcc -mtune=native -c a.c",
            L::NativeArch("-mtune=native".into()),
        ),
        (
            "gcc -mcpu=native -c a.c",
            L::NativeArch("-mcpu=native".into()),
        ),
        (
            "gcc -Wa,-adhln=a.lst -c a.c",
            L::AssemblerListing("-Wa,-adhln=a.lst".into()),
        ),
        (
            "gcc -Wa,--MD -c a.c",
            L::AssemblerListing("-Wa,--MD".into()),
        ),
        (
            "gcc -fprofile-generate -c a.c",
            L::Profiling("-fprofile-generate".into()),
        ),
        (
            "gcc -fprofile-use=x.gcda -c a.c",
            L::Profiling("-fprofile-use=x.gcda".into()),
        ),
        (
            "gcc -fauto-profile -c a.c",
            L::Profiling("-fauto-profile".into()),
        ),
        (
            "gcc -fprofile-correction -c a.c",
            L::Profiling("-fprofile-correction".into()),
        ),
        ("gcc --coverage -c a.c", L::Profiling("--coverage".into())),
        ("g++ -frepo -c foo.C", L::Frepo),
        ("gcc -dr -c foo.c", L::Dr("-dr".into())),
        (
            "gcc -specs=foo.specs -c foo.c",
            L::Specs("-specs=foo.specs".into()),
        ),
        ("gcc --specs foo.specs -c foo.c", L::Specs("--specs".into())),
        (
            "gcc -xassembler-with-cpp -c f.S",
            L::UnsupportedLanguage("assembler-with-cpp".into()),
        ),
        (
            "gcc -x assembler-with-cpp -c foo.c",
            L::UnsupportedLanguage("assembler-with-cpp".into()),
        ),
        (
            "gcc -x c-header -c foo.h",
            L::UnsupportedLanguage("c-header".into()),
        ),
        ("gcc -x go -c foo.go", L::UnsupportedLanguage("go".into())),
        ("gcc -c foo.h", L::UnsupportedLanguage("header".into())),
        (
            "gfortran -c foo.f90",
            L::UnsupportedLanguage("fortran".into()),
        ),
        ("gcc -c hello.s", L::AssemblerSource("hello.s".into())),
        (
            "gcc -c hello.S -o hello.o",
            L::AssemblerSource("hello.S".into()),
        ),
        ("gcc -x c -c -", L::StdinSource),
        ("gcc -c - -o x.o", L::StdinSource),
        ("gcc hello.c", L::NoCompileFlag),
        ("gcc -o app a.o b.o -lm", L::NoCompileFlag),
        ("gcc -c", L::NoSource),
        ("gcc -c -O2 README", L::NoSource),
        (
            "gcc -c a.c b.c",
            L::MultipleSources {
                first: "a.c".into(),
                second: "b.c".into(),
            },
        ),
        (
            "gcc -c a.s b.c",
            L::MultipleSources {
                first: "a.s".into(),
                second: "b.c".into(),
            },
        ),
        (
            "gcc -x c -c a b",
            L::MultipleSources {
                first: "a".into(),
                second: "b".into(),
            },
        ),
        (
            "gcc -c a.c -o a.o -o b.o",
            L::MultipleOutputs {
                first: "a.o".into(),
                second: "b.o".into(),
            },
        ),
        ("gcc -c conftest.c", L::Conftest("conftest.c".into())),
        (
            "gcc -c sub/tmp.conftest.c",
            L::Conftest("sub/tmp.conftest.c".into()),
        ),
        ("gcc -c hello.c -o -", L::OutputToStdout),
        ("gcc -c foo.c bar.o", L::LinkerInput("bar.o".into())),
        ("gcc -c foo.c libx.a", L::LinkerInput("libx.a".into())),
        (
            "gcc -gsplit-dwarf -c a.c",
            L::ExtraOutputFile("-gsplit-dwarf".into()),
        ),
        (
            "gcc -fstack-usage -c a.c",
            L::ExtraOutputFile("-fstack-usage".into()),
        ),
        (
            "gcc -save-temps -c a.c",
            L::ExtraOutputFile("-save-temps".into()),
        ),
        (
            "gcc -fdump-tree-all -c a.c",
            L::ExtraOutputFile("-fdump-tree-all".into()),
        ),
        (
            "gcc -aux-info p.h -c a.c",
            L::ExtraOutputFile("-aux-info".into()),
        ),
        (
            "clang -ftime-trace -c a.c",
            L::ExtraOutputFile("-ftime-trace".into()),
        ),
        (
            "gcc -fsyntax-only -c a.c",
            L::NoObjectFile("-fsyntax-only".into()),
        ),
        ("gcc -c a.c --version", L::NoObjectFile("--version".into())),
        ("gcc -### -c a.c", L::NoObjectFile("-###".into())),
        (
            "gcc -print-prog-name=cc1 -c a.c",
            L::NoObjectFile("-print-prog-name=cc1".into()),
        ),
        (
            "g++ -fmodules-ts -c a.cc",
            L::Modules("-fmodules-ts".into()),
        ),
        ("clang -fmodules -c a.m", L::Modules("-fmodules".into())),
        (
            "gcc --output=a.o -c a.c",
            L::LongOptionAlias("--output=a.o".into()),
        ),
        (
            "gcc --language c -c a",
            L::LongOptionAlias("--language".into()),
        ),
        ("gcc -c a.c -o", L::MissingArgument("-o".into())),
        ("gcc -c a.c -x", L::MissingArgument("-x".into())),
        ("gcc -c a.c -MF", L::MissingArgument("-MF".into())),
        ("gcc -c a.c -I", L::MissingArgument("-I".into())),
    ];
    for (cmd, want) in cases {
        assert_eq!(reason(cmd), want, "{cmd}");
        // Every reason explains itself.
        assert!(!want.to_string().is_empty());
    }
    // Empty argv and an empty `-o` value cannot be written with `argv()`.
    assert_eq!(scan_args(&[]).local_reason(), Some(&L::MissingCompiler));
    let empty_o = vec![
        "gcc".into(),
        "-c".into(),
        "a.c".into(),
        "-o".into(),
        String::new(),
    ];
    assert_eq!(
        scan_args(&empty_o).local_reason(),
        Some(&L::MissingArgument("-o".into()))
    );
}

#[test]
fn display_explains_why() {
    assert_eq!(
        L::PreprocessOnly.to_string(),
        "`-E` only preprocesses, which always runs locally"
    );
    assert_eq!(
        L::NativeArch("-march=native".into()).to_string(),
        "`-march=native` targets the machine running the compiler, so it must be this machine"
    );
    assert!(L::NoCompileFlag.to_string().contains("link"));
}

#[test]
fn classification_accessors() {
    let c = scan_args(&argv("gcc -c a.c"));
    assert!(c.job().is_some() && c.local_reason().is_none());
    let c = scan_args(&argv("gcc a.c"));
    assert!(c.job().is_none() && c.local_reason() == Some(&L::NoCompileFlag));
}

fn arg_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-c".to_string()),
        Just("-S".to_string()),
        Just("-E".to_string()),
        Just("-o".to_string()),
        Just("-x".to_string()),
        Just("-MF".to_string()),
        Just("-MD".to_string()),
        Just("-Wp,".to_string()),
        Just("-Wp,-MD".to_string()),
        Just("-Wp,-MD,".to_string()),
        Just("-".to_string()),
        Just(String::new()),
        Just("a.c".to_string()),
        Just("b.o".to_string()),
        "[-@.a-zA-Z0-9,=/+]{0,12}",
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn scan_never_panics(args in prop::collection::vec(arg_strategy(), 0..12)) {
        let classification = scan_args(&args);
        if let Classification::Distributable(job) = classification {
            prop_assert_eq!(&args[job.input_index], &job.input);
            if let Some(pos) = job.output_arg {
                prop_assert!(pos.value_index() < args.len());
            }
        }
    }
}
