//! Reading a compiler command line: may it run on another machine, and if so, what are its
//! input and output?
//!
//! The rules mirror distcc 3.4's `dcc_scan_args` (so that ccfarm and distcc agree on what is
//! distributable) with distcc's known mistakes fixed: `-x` is parsed properly and applies to
//! the inputs after it, assembler and other-language inputs count as inputs, a bare `*.o`
//! is not taken for the output, and options whose side files cannot come back from a server
//! (`-gsplit-dwarf`, `-fstack-usage`, ...) keep the job local. The rules themselves live in
//! [`crate::rules`].

use crate::comments::{self, Decision, Preprocessing};
use crate::expand::expand_wp_items;
use crate::lang::{FileKind, Language, XLanguage, classify_file, parse_x_language, stem};
use crate::rules::{LocalReason, option_forces_local};

/// The verdict on a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classification {
    /// One C-family translation unit compiled to one output: safe to send to a server.
    Distributable(CompileJob),
    /// Run the command unchanged on this machine, for the reason given.
    Local(LocalReason),
}

impl Classification {
    /// The job, if the command is distributable.
    pub fn job(&self) -> Option<&CompileJob> {
        match self {
            Classification::Distributable(job) => Some(job),
            Classification::Local(_) => None,
        }
    }

    /// Why the command must stay local, if it must.
    pub fn local_reason(&self) -> Option<&LocalReason> {
        match self {
            Classification::Distributable(_) => None,
            Classification::Local(reason) => Some(reason),
        }
    }
}

/// How far the compiler goes: the output's kind depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `-c`: stop after assembling, producing an object file.
    Compile,
    /// `-S`: stop after compiling, producing assembler text. `-S` wins over `-c`.
    Assemble,
}

impl Mode {
    /// The extension gcc gives an output it names itself (`o` or `s`, without the dot).
    pub fn output_extension(self) -> &'static str {
        match self {
            Mode::Compile => "o",
            Mode::Assemble => "s",
        }
    }
}

/// Whether an option's value was a separate argument (`-o x`) or glued on (`-ox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgForm {
    /// The value is the next argument.
    Separate,
    /// The value is the rest of the option's own argument.
    Joined,
}

/// Where an option with a value sits in argv, so that a rewrite can replace the value in
/// the spelling the user chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgPosition {
    /// Index of the option itself (`-o`, `-ox`, `-x`, `-xc`) in argv.
    pub index: usize,
    /// How the value is attached.
    pub form: ArgForm,
}

impl ArgPosition {
    /// Index of the argument that holds the value.
    pub fn value_index(&self) -> usize {
        match self.form {
            ArgForm::Separate => self.index + 1,
            ArgForm::Joined => self.index,
        }
    }
}

/// Which headers a dependency file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepStyle {
    /// `-MD`: every header, system headers included.
    AllHeaders,
    /// `-MMD`: only headers outside the system directories.
    UserHeaders,
}

/// A target given for the dependency rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepTarget {
    /// `-MT x`: used exactly as written.
    Plain(String),
    /// `-MQ x`: quoted for make (`$` → `$$`, spaces and `#` escaped).
    Quoted(String),
}

impl DepTarget {
    /// The target as it appears in the dependency file.
    pub fn to_make(&self) -> String {
        match self {
            DepTarget::Plain(t) => t.clone(),
            DepTarget::Quoted(t) => make_quote(t),
        }
    }
}

/// Quote a file name for a make rule the way gcc's `-MQ` does.
pub(crate) fn make_quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut backslashes = 0;
    for c in name.chars() {
        match c {
            ' ' | '\t' => {
                // Backslashes right before the blank must be doubled, then the blank escaped.
                out.extend(std::iter::repeat_n('\\', backslashes + 1));
                out.push(c);
            }
            '$' => out.push_str("$$"),
            '#' => out.push_str("\\#"),
            _ => out.push(c),
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    out
}

/// Dependency-file options found on the command line (`-MD`, `-MMD`, `-MF`, `-MT`, `-MQ`,
/// `-MP`, `-MG`, including those hidden in `-Wp,`).
///
/// They matter because a dependency file is a second output: whoever runs the preprocessor
/// must write it where, and with the target, that a local gcc would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// `-MD` or `-MMD`, whichever came last; `None` if no dependency file is requested.
    pub style: Option<DepStyle>,
    /// The last `-MF` value.
    pub file: Option<String>,
    /// Every `-MT`/`-MQ`, in order.
    pub targets: Vec<DepTarget>,
    /// `-MP`: add a phony rule per header.
    pub phony_headers: bool,
    /// `-MG`: treat missing headers as generated files.
    pub missing_headers_ok: bool,
}

/// A distributable compilation, as read from its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileJob {
    /// `argv[0]`, exactly as given.
    pub compiler: String,
    /// The source file, exactly as given.
    pub input: String,
    /// Index of the source file in argv.
    pub input_index: usize,
    /// The output path: the `-o` value, or the name gcc would pick (the input's base name
    /// with `.o`, or `.s` under `-S`, in the current directory).
    pub output: String,
    /// Where the `-o` option is; `None` when the output was inferred.
    pub output_arg: Option<ArgPosition>,
    /// `-c` or `-S`.
    pub mode: Mode,
    /// The source language, from `-x` or from the file suffix.
    pub language: Language,
    /// Whether the input is already preprocessed (`.i .ii .mi .mii`, `-x cpp-output`, ...),
    /// so that no preprocessing is needed before sending it.
    pub preprocessed: bool,
    /// The `-x` option in force for the input, if the language came from one.
    pub language_arg: Option<ArgPosition>,
    /// Dependency-file options.
    pub deps: Dependencies,
    /// How the client preprocesses it.
    pub preprocessing: Preprocessing,
}

impl CompileJob {
    /// The source language (the same as the `language` field).
    pub fn language(&self) -> Language {
        self.language
    }

    /// Whether the command stops at assembler text (`-S`), so the output is a `.s` file
    /// rather than an object.
    pub fn assemble_only(&self) -> bool {
        self.mode == Mode::Assemble
    }

    /// Whether the command named its output with `-o`.
    pub fn output_is_explicit(&self) -> bool {
        self.output_arg.is_some()
    }

    /// Where gcc would write the dependency file, if one is requested: the `-MF` value, or
    /// else the output path with its suffix replaced by `.d` (directory kept).
    ///
    /// distcc gets this wrong for `-MD -o dir/x.o` (it writes `./x.d`); a client that passes
    /// this path explicitly to its local preprocessor does not.
    pub fn dep_file(&self) -> Option<String> {
        self.deps.style?;
        if let Some(file) = &self.deps.file {
            return Some(file.clone());
        }
        let dir_len = self.output.len() - crate::lang::basename(&self.output).len();
        Some(format!(
            "{}{}.d",
            &self.output[..dir_len],
            stem(&self.output)
        ))
    }

    /// The target of the dependency rule as it appears in the file: the `-MT`/`-MQ` values
    /// joined by spaces, or else the output path quoted for make.
    pub fn dep_target(&self) -> String {
        if self.deps.targets.is_empty() {
            make_quote(&self.output)
        } else {
            let targets: Vec<String> = self.deps.targets.iter().map(DepTarget::to_make).collect();
            targets.join(" ")
        }
    }
}

/// Decide whether `argv` (with `argv[0]` the compiler) can be compiled remotely.
///
/// Callers should first apply [`crate::expand_preprocessor_options`] so that the argv they
/// later rewrite matches what was classified; `-Wp,` options left in place are still
/// understood here. Response files must have been expanded by the caller: any argument
/// starting with `@` keeps the job local. Never panics, whatever the input.
pub fn scan_args(argv: &[String]) -> Classification {
    match scan(argv) {
        Ok(job) => Classification::Distributable(job),
        Err(reason) => Classification::Local(reason),
    }
}

/// [`scan_args`] for a client about to preprocess here: also decides how (see
/// [`crate::comments`]), which may keep the job here. A server classifies what it is
/// sent with [`scan_args`] alone.
pub fn scan_client_args(argv: &[String]) -> Classification {
    match scan(argv) {
        Ok(mut job) if !job.preprocessed => match comments::decide(argv) {
            Decision::Distribute(preprocessing) => {
                job.preprocessing = preprocessing;
                Classification::Distributable(job)
            }
            Decision::Local(reason) => Classification::Local(reason),
        },
        Ok(job) => Classification::Distributable(job),
        Err(reason) => Classification::Local(reason),
    }
}

/// What a positional argument turned out to be.
#[derive(Debug)]
enum InputKind {
    Source {
        language: Language,
        preprocessed: bool,
        language_arg: Option<ArgPosition>,
    },
    Assembler,
    Unsupported(String),
    Stdin,
}

#[derive(Debug)]
struct Input {
    index: usize,
    path: String,
    kind: InputKind,
}

#[derive(Debug)]
struct Output {
    value: String,
    position: ArgPosition,
}

/// A walk over argv, or over the items of one `-Wp,` argument.
struct Cursor<'a> {
    items: &'a [String],
    pos: usize,
    /// For `-Wp,` items: the argv index of the `-Wp,` argument they came from.
    origin: Option<usize>,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Option<(usize, &'a str)> {
        let item = self.items.get(self.pos)?;
        let index = self.origin.unwrap_or(self.pos);
        self.pos += 1;
        Some((index, item.as_str()))
    }

    fn in_wp(&self) -> bool {
        self.origin.is_some()
    }

    /// The value of option `opt`: the next item.
    fn value(&mut self, opt: &str) -> Result<&'a str, LocalReason> {
        self.next()
            .map(|(_, v)| v)
            .ok_or_else(|| LocalReason::MissingArgument(opt.to_string()))
    }
}

#[derive(Default)]
struct Scanner {
    seen_c: bool,
    seen_s: bool,
    /// The `-x` in force, unless it is `-x none` or absent.
    x: Option<(XLanguage, ArgPosition)>,
    inputs: Vec<Input>,
    outputs: Vec<Output>,
    linker_inputs: Vec<String>,
    deps: Dependencies,
}

fn scan(argv: &[String]) -> Result<CompileJob, LocalReason> {
    let compiler = match argv.first() {
        Some(c) if !c.is_empty() && !c.starts_with('-') => c.clone(),
        _ => return Err(LocalReason::MissingCompiler),
    };
    // gcc expands `@file` wherever it appears, even as an option's value.
    if let Some(at) = argv[1..].iter().find(|a| a.starts_with('@')) {
        return Err(LocalReason::ResponseFile(at.clone()));
    }
    let mut scanner = Scanner::default();
    let mut cursor = Cursor {
        items: argv,
        pos: 1,
        origin: None,
    };
    scanner.walk(&mut cursor)?;
    scanner.finish(compiler)
}

impl Scanner {
    fn walk(&mut self, cur: &mut Cursor<'_>) -> Result<(), LocalReason> {
        while let Some((index, arg)) = cur.next() {
            if !cur.in_wp()
                && let Some(items) = arg.strip_prefix("-Wp,")
            {
                let mut expanded = Vec::new();
                expand_wp_items(items, &mut expanded);
                self.walk(&mut Cursor {
                    items: &expanded,
                    pos: 0,
                    origin: Some(index),
                })?;
            } else if arg == "-" || !arg.starts_with('-') {
                // Words inside `-Wp,` go to the preprocessor, not the driver: never inputs.
                if !cur.in_wp() {
                    self.positional(index, arg);
                }
            } else {
                self.option(index, arg, cur)?;
            }
        }
        Ok(())
    }

    fn option(&mut self, index: usize, a: &str, cur: &mut Cursor<'_>) -> Result<(), LocalReason> {
        // Options seen only by the preprocessor cannot change the driver's mode or files.
        let driver = !cur.in_wp();
        match a {
            "-E" => return Err(LocalReason::PreprocessOnly),
            "-MD" => self.deps.style = Some(DepStyle::AllHeaders),
            "-MMD" => self.deps.style = Some(DepStyle::UserHeaders),
            "-MG" => self.deps.missing_headers_ok = true,
            "-MP" => self.deps.phony_headers = true,
            "-MF" | "-MT" | "-MQ" => {
                let value = cur.value(a)?;
                self.dep_option(a, value);
            }
            _ if a.starts_with("-MF") || a.starts_with("-MT") || a.starts_with("-MQ") => {
                self.dep_option(&a[..3], &a[3..]);
            }
            _ if a.starts_with("-M") => return Err(LocalReason::DependencyOnly(a.to_string())),
            "-c" => self.seen_c |= driver,
            "-S" => self.seen_s |= driver,
            "-o" => {
                let value = cur.value(a)?;
                if driver {
                    self.output(value, index, ArgForm::Separate);
                }
            }
            _ if a.starts_with("-o") => {
                if driver {
                    self.output(&a[2..], index, ArgForm::Joined);
                }
            }
            "-x" => {
                let value = cur.value(a)?;
                if driver {
                    self.language(value, index, ArgForm::Separate);
                }
            }
            _ if a.starts_with("-x") => {
                if driver {
                    self.language(&a[2..], index, ArgForm::Joined);
                }
            }
            "-Xassembler" => {
                let value = cur.value(a)?;
                if value.starts_with("-a") || value.contains("--MD") {
                    return Err(LocalReason::AssemblerListing(format!("{a} {value}")));
                }
            }
            _ => {
                if let Some(reason) = option_forces_local(a) {
                    return Err(reason);
                }
                if crate::options::takes_separate_value(a) {
                    cur.value(a)?;
                }
            }
        }
        Ok(())
    }

    fn dep_option(&mut self, opt: &str, value: &str) {
        match opt {
            "-MF" => self.deps.file = Some(value.to_string()),
            "-MT" => self.deps.targets.push(DepTarget::Plain(value.to_string())),
            _ => self.deps.targets.push(DepTarget::Quoted(value.to_string())),
        }
    }

    fn output(&mut self, value: &str, index: usize, form: ArgForm) {
        self.outputs.push(Output {
            value: value.to_string(),
            position: ArgPosition { index, form },
        });
    }

    fn language(&mut self, value: &str, index: usize, form: ArgForm) {
        self.x = match parse_x_language(value) {
            XLanguage::BySuffix => None,
            lang => Some((lang, ArgPosition { index, form })),
        };
    }

    fn positional(&mut self, index: usize, path: &str) {
        let kind = if path == "-" {
            InputKind::Stdin
        } else {
            match &self.x {
                Some((
                    XLanguage::Source {
                        language,
                        preprocessed,
                    },
                    position,
                )) => InputKind::Source {
                    language: *language,
                    preprocessed: *preprocessed,
                    language_arg: Some(*position),
                },
                Some((XLanguage::Other(lang), _)) => InputKind::Unsupported(lang.clone()),
                Some((XLanguage::BySuffix, _)) | None => match classify_file(path) {
                    FileKind::Source {
                        language,
                        preprocessed,
                    } => InputKind::Source {
                        language,
                        preprocessed,
                        language_arg: None,
                    },
                    FileKind::Assembler => InputKind::Assembler,
                    FileKind::OtherLanguage(lang) => InputKind::Unsupported(lang),
                    FileKind::LinkerInput => {
                        self.linker_inputs.push(path.to_string());
                        return;
                    }
                    // gcc passes unknown words to the linker, which a compile never runs.
                    FileKind::Unknown => return,
                },
            }
        };
        self.inputs.push(Input {
            index,
            path: path.to_string(),
            kind,
        });
    }

    fn finish(self, compiler: String) -> Result<CompileJob, LocalReason> {
        let mode = if self.seen_s {
            Mode::Assemble
        } else if self.seen_c {
            Mode::Compile
        } else {
            return Err(LocalReason::NoCompileFlag);
        };
        let mut inputs = self.inputs.into_iter();
        let input = inputs.next().ok_or(LocalReason::NoSource)?;
        if let Some(second) = inputs.next() {
            return Err(LocalReason::MultipleSources {
                first: input.path,
                second: second.path,
            });
        }
        let mut outputs = self.outputs.into_iter();
        let output = outputs.next();
        if let (Some(first), Some(second)) = (&output, outputs.next()) {
            return Err(LocalReason::MultipleOutputs {
                first: first.value.clone(),
                second: second.value,
            });
        }
        let (language, preprocessed, language_arg) = match input.kind {
            InputKind::Source {
                language,
                preprocessed,
                language_arg,
            } => (language, preprocessed, language_arg),
            InputKind::Assembler => return Err(LocalReason::AssemblerSource(input.path)),
            InputKind::Unsupported(lang) => return Err(LocalReason::UnsupportedLanguage(lang)),
            InputKind::Stdin => return Err(LocalReason::StdinSource),
        };
        if let Some(linker_input) = self.linker_inputs.into_iter().next() {
            return Err(LocalReason::LinkerInput(linker_input));
        }
        let base = crate::lang::basename(&input.path);
        if base.starts_with("conftest.") || base.starts_with("tmp.conftest.") {
            return Err(LocalReason::Conftest(input.path));
        }
        let (output, output_arg) = match output {
            Some(o) if o.value.is_empty() => {
                return Err(LocalReason::MissingArgument("-o".to_string()));
            }
            Some(o) if o.value == "-" => return Err(LocalReason::OutputToStdout),
            Some(o) => (o.value, Some(o.position)),
            None => (
                format!("{}.{}", stem(&input.path), mode.output_extension()),
                None,
            ),
        };
        Ok(CompileJob {
            compiler,
            input: input.path,
            input_index: input.index,
            output,
            output_arg,
            mode,
            language,
            preprocessed,
            language_arg,
            deps: self.deps,
            preprocessing: Preprocessing::Expanded,
        })
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
