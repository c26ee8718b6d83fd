//! Source languages, and what a file name or a `-x` value says about an input.
//!
//! gcc decides how to treat each input from its suffix unless a `-x LANG` is in force, so the
//! scanner needs both views. Everything here is a pure function of a string.

use std::fmt;

/// The language family of a translation unit that ccfarm knows how to distribute.
///
/// Only the C family is distributable: these are the languages whose preprocessed text is
/// self-contained, so the server needs nothing but that text and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// C (`.c`, `-x c`).
    C,
    /// C++ (`.cc .cpp .cxx .cp .c++ .C .CPP`, `-x c++`).
    Cxx,
    /// Objective-C (`.m`, `-x objective-c`).
    ObjC,
    /// Objective-C++ (`.mm .M`, `-x objective-c++`).
    ObjCxx,
}

impl Language {
    /// The `-x` spelling of this language as source that still needs preprocessing.
    pub fn x_name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cxx => "c++",
            Language::ObjC => "objective-c",
            Language::ObjCxx => "objective-c++",
        }
    }

    /// The `-x` spelling of already-preprocessed input of this language.
    ///
    /// A server that receives preprocessed text must not let a client's `-x c` make the
    /// compiler preprocess it a second time; it rewrites that `-x` to this value.
    pub fn preprocessed_x_name(self) -> &'static str {
        match self {
            Language::C => "cpp-output",
            Language::Cxx => "c++-cpp-output",
            Language::ObjC => "objective-c-cpp-output",
            Language::ObjCxx => "objective-c++-cpp-output",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.x_name())
    }
}

/// The file-name extension (without the dot, like [`std::path::Path::extension`]) that gcc
/// reads as preprocessed `lang`.
///
/// A server names the preprocessed text it receives with this extension so that the
/// compiler skips preprocessing without needing an `-x` option: `i` (C), `ii` (C++), `mi`
/// (Objective-C), `mii` (Objective-C++).
pub fn preprocessed_extension(lang: Language) -> &'static str {
    match lang {
        Language::C => "i",
        Language::Cxx => "ii",
        Language::ObjC => "mi",
        Language::ObjCxx => "mii",
    }
}

/// What gcc would do with an input file, judged from its name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A C-family source, possibly already preprocessed.
    Source {
        language: Language,
        preprocessed: bool,
    },
    /// Assembler (`.s`, `.S`, `.sx`): compiled by gcc, never distributed.
    Assembler,
    /// Another language gcc compiles (headers, Fortran, Go, D, Ada, CUDA): never distributed.
    OtherLanguage(String),
    /// An object or library: gcc only hands it to the linker.
    LinkerInput,
    /// No recognised suffix: gcc hands it to the linker, so a compile ignores it.
    Unknown,
}

/// The final path component: everything after the last `/`.
pub(crate) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The suffix of the final path component, without its dot; `None` if it has no dot.
pub(crate) fn extension(path: &str) -> Option<&str> {
    let base = basename(path);
    base.rfind('.').map(|dot| &base[dot + 1..])
}

/// The final path component with its suffix (from the last dot) removed.
pub(crate) fn stem(path: &str) -> &str {
    let base = basename(path);
    match base.rfind('.') {
        Some(dot) => &base[..dot],
        None => base,
    }
}

/// Classify an input by its suffix, the way gcc does when no `-x` is in force.
pub(crate) fn classify_file(path: &str) -> FileKind {
    let Some(ext) = extension(path) else {
        return FileKind::Unknown;
    };
    let source = |language, preprocessed| FileKind::Source {
        language,
        preprocessed,
    };
    match ext {
        "c" => source(Language::C, false),
        "cc" | "cpp" | "cxx" | "cp" | "c++" | "C" | "CPP" => source(Language::Cxx, false),
        "m" => source(Language::ObjC, false),
        "mm" | "M" => source(Language::ObjCxx, false),
        "i" => source(Language::C, true),
        "ii" => source(Language::Cxx, true),
        "mi" => source(Language::ObjC, true),
        "mii" => source(Language::ObjCxx, true),
        "s" | "S" | "sx" => FileKind::Assembler,
        "h" | "hh" | "H" | "hp" | "hxx" | "hpp" | "HPP" | "h++" | "tcc" => {
            FileKind::OtherLanguage("header".into())
        }
        "f" | "for" | "ftn" | "F" | "FOR" | "FTN" | "fpp" | "FPP" | "f90" | "f95" | "f03"
        | "f08" | "F90" | "F95" | "F03" | "F08" => FileKind::OtherLanguage("fortran".into()),
        "go" => FileKind::OtherLanguage("go".into()),
        "d" | "di" | "dd" => FileKind::OtherLanguage("d".into()),
        "ads" | "adb" => FileKind::OtherLanguage("ada".into()),
        "cu" => FileKind::OtherLanguage("cuda".into()),
        "o" | "a" | "so" | "lo" => FileKind::LinkerInput,
        _ => FileKind::Unknown,
    }
}

/// What a `-x` value means for the inputs that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XLanguage {
    /// `-x none`: go back to judging inputs by suffix.
    BySuffix,
    /// A C-family language, possibly the preprocessed (`*-cpp-output`) variant.
    Source {
        language: Language,
        preprocessed: bool,
    },
    /// Any other language (`assembler-with-cpp`, `c-header`, `go`, ...).
    Other(String),
}

/// Interpret the value of `-x`.
///
/// Header languages (`c-header`, `c++-header`) build precompiled headers, which are only
/// usable by the exact compiler binary that wrote them, so they count as "other".
pub(crate) fn parse_x_language(name: &str) -> XLanguage {
    let source = |language, preprocessed| XLanguage::Source {
        language,
        preprocessed,
    };
    match name {
        "none" => XLanguage::BySuffix,
        "c" => source(Language::C, false),
        "c++" => source(Language::Cxx, false),
        "objective-c" => source(Language::ObjC, false),
        "objective-c++" => source(Language::ObjCxx, false),
        "cpp-output" => source(Language::C, true),
        "c++-cpp-output" => source(Language::Cxx, true),
        "objective-c-cpp-output" | "objc-cpp-output" => source(Language::ObjC, true),
        "objective-c++-cpp-output" | "objc++-cpp-output" => source(Language::ObjCxx, true),
        other => XLanguage::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_distcc_extract_extension() {
        assert_eq!(extension("hello.c"), Some("c"));
        assert_eq!(extension("hello.cpp"), Some("cpp"));
        assert_eq!(extension("hello.2.4.4.4.c"), Some("c"));
        assert_eq!(extension(".foo"), Some("foo"));
        assert_eq!(extension("gcc"), None);
        assert_eq!(extension("dir.d/file"), None);
    }

    #[test]
    fn stems_drop_directory_and_last_suffix() {
        assert_eq!(stem("../src/hello.c"), "hello");
        assert_eq!(stem("a.b.c"), "a.b");
        assert_eq!(stem("noext"), "noext");
        assert_eq!(stem("dir/"), "");
    }

    #[test]
    fn is_source_table() {
        // distcc's IsSource_Case: (name, is source, is preprocessed)
        let cases = [
            ("hello.c", true, false),
            ("hello.cpp", true, false),
            ("hello.cc", true, false),
            ("hello.cxx", true, false),
            ("hello.cp", true, false),
            ("hello.c++", true, false),
            ("hello.C", true, false),
            ("hello.m", true, false),
            ("hello.mm", true, false),
            ("hello.M", true, false),
            ("hello.i", true, true),
            ("hello.ii", true, true),
            ("hello.mi", true, true),
            ("hello.mii", true, true),
            ("hello.2.4.4.i", true, true),
            (".foo", false, false),
            ("gcc", false, false),
            ("hello.s", false, false),
            ("hello.S", false, false),
            ("hello.h", false, false),
            ("hello.o", false, false),
        ];
        for (name, is_source, is_pp) in cases {
            match classify_file(name) {
                FileKind::Source { preprocessed, .. } => {
                    assert!(is_source, "{name} should not be a source");
                    assert_eq!(preprocessed, is_pp, "{name}");
                }
                _ => assert!(!is_source, "{name} should be a source"),
            }
        }
    }

    #[test]
    fn languages_by_suffix() {
        let lang = |n| match classify_file(n) {
            FileKind::Source { language, .. } => Some(language),
            _ => None,
        };
        assert_eq!(lang("a.c"), Some(Language::C));
        assert_eq!(lang("a.CPP"), Some(Language::Cxx));
        assert_eq!(lang("a.m"), Some(Language::ObjC));
        assert_eq!(lang("a.M"), Some(Language::ObjCxx));
        assert_eq!(lang("a.mii"), Some(Language::ObjCxx));
        assert_eq!(classify_file("a.s"), FileKind::Assembler);
        assert_eq!(classify_file("a.sx"), FileKind::Assembler);
        assert_eq!(classify_file("a.o"), FileKind::LinkerInput);
        assert_eq!(
            classify_file("a.f90"),
            FileKind::OtherLanguage("fortran".into())
        );
        assert_eq!(classify_file("libfoo.so.1"), FileKind::Unknown);
    }

    #[test]
    fn preprocessed_names_round_trip() {
        for lang in [Language::C, Language::Cxx, Language::ObjC, Language::ObjCxx] {
            assert_eq!(
                parse_x_language(lang.x_name()),
                XLanguage::Source {
                    language: lang,
                    preprocessed: false
                }
            );
            assert_eq!(
                parse_x_language(lang.preprocessed_x_name()),
                XLanguage::Source {
                    language: lang,
                    preprocessed: true
                }
            );
            let ext = preprocessed_extension(lang);
            assert_eq!(
                classify_file(&format!("in.{ext}")),
                FileKind::Source {
                    language: lang,
                    preprocessed: true
                }
            );
        }
        assert_eq!(parse_x_language("none"), XLanguage::BySuffix);
        assert_eq!(
            parse_x_language("c-header"),
            XLanguage::Other("c-header".into())
        );
    }
}
