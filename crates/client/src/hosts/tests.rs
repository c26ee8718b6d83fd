//! The grammar, the keys and the display of host-list entries.

use super::HostsErrorKind as Kind;
use super::*;
use proptest::{collection::vec, option::of, prelude::*};
use std::collections::HashSet;
use std::net::Ipv6Addr;

fn with(mut spec: HostEntry, edit: impl FnOnce(&mut HostEntry)) -> HostEntry {
    edit(&mut spec);
    spec
}
fn local(slots: u32) -> HostEntry {
    HostEntry::new(HostTransport::Localhost).with_slots(slots)
}
fn tcp(host: &str, port: u16, slots: u32) -> HostEntry {
    HostEntry::new(HostTransport::Tcp {
        host: host.into(),
        port,
    })
    .with_slots(slots)
}
/// What the proptests feed back to the parser: every host's `display()` and the globals.
fn render(list: &HostList) -> String {
    let mut words: Vec<String> = list.hosts.iter().map(HostEntry::display).collect();
    words.extend(list.randomize.then(|| "--randomize".into()));
    words.extend(list.local_slots.map(|n| format!("--localslots={n}")));
    words.extend(
        list.local_slots_cpp
            .map(|n| format!("--localslots_cpp={n}")),
    );
    words.extend(list.zeroconf.then(|| "+zeroconf".into()));
    words.join("\n")
}
fn one(text: &str) -> HostEntry {
    let list = parse_hosts(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(list.hosts.len(), 1, "{text}");
    list.hosts[0].clone()
}

#[test]
fn every_grammar_form_and_its_display() {
    let cases = [
        ("localhost", "localhost/2"),
        ("localhost/3", "localhost/3"),
        ("localhost=5", "localhost/5"),
        ("localhostbutnotreally", "localhostbutnotreally:3632/4"),
        ("localhost:4000", "localhost:4000/4"),
        ("localhost,lzo", "localhost:3632/4,lzo"),
        ("127.0.0.1,lzo", "127.0.0.1:3632/4,lzo"),
        ("build-1.farm_a:65535/8", "build-1.farm_a:65535/8"),
        ("host=8", "host:3632/8"),
        ("host/8:4000", "host:4000/8"),
        ("host:4000=8", "host:4000/8"),
        ("[::1]", "[::1]:3632/4"),
        ("[0:0::1]/8:4000", "[::1]:4000/8"),
        ("[FE80::1%eth0]:4000", "[fe80::1%eth0]:4000/4"),
        ("@host", "@host/4"),
        ("u@h/3:/usr/bin/distccd", "u@h/3:/usr/bin/distccd"),
        ("u@h=2", "u@h/2"),
        ("u@h:cmd/4", "u@h/4:cmd/4"),
        ("@h/7,cpp,lzo", "@h/7,lzo,cpp"),
        ("h,lzo,lzo", "h:3632/4,lzo"),
        ("h,down,auth", "h:3632/4,auth,down"),
        ("h,auth=distcc/h@REALM", "h:3632/4,auth=distcc/h@REALM"),
    ];
    for (text, shown) in cases {
        let spec = one(text);
        assert_eq!(spec.display(), shown, "{text}");
        assert_eq!(one(shown), spec, "{shown}");
    }
    // The structure behind a few of them.
    let kind = |text| format!("{:?}", one(text).transport);
    assert_eq!(kind("localhost=5"), "Localhost");
    assert_eq!(
        kind("localhost,lzo"),
        r#"Tcp { host: "localhost", port: 3632 }"#
    );
    assert_eq!(
        kind("[FE80::1%eth0]"),
        r#"Tcp { host: "fe80::1%eth0", port: 3632 }"#
    );
    let ssh = r#"Ssh { user: Some("u"), host: "h", command: Some("/bin/d") }"#;
    assert_eq!(kind("u@h:/bin/d"), ssh);
    assert_eq!(
        kind("@h"),
        r#"Ssh { user: None, host: "h", command: None }"#
    );
    let fields = |h: HostEntry| (h.slots, h.lzo, h.cpp, h.down, h.auth);
    let auth = |name: &str| Some(name.to_owned());
    assert_eq!(fields(one("localhost")), (2, false, false, false, None));
    assert_eq!(
        fields(one("h:1/2,down,auth")),
        (2, false, false, true, auth(""))
    );
    assert_eq!(
        fields(one("@h/7,cpp,auth=x,lzo")),
        (7, true, true, false, auth("x"))
    );
    assert_eq!(one("@h,cpp,lzo").protocol(), Version::V3);
    assert_eq!(one("h,lzo").protocol(), Version::V2);
    assert_eq!(one("h").protocol(), Version::V1);
}

#[test]
fn every_error() {
    let nan = |what, text: &str| Kind::NotANumber(what, text.into());
    let cases = [
        ("host/0", Kind::ZeroSlots),
        ("foo:99999", Kind::OutOfRange("port")),
        ("foo:0", Kind::OutOfRange("port")),
        ("foo:", Kind::Empty("port")),
        ("foo:http", nan("port", "http")),
        ("foo,cpp", Kind::CppWithoutLzo),
        ("foo,lzo,zstd", Kind::UnknownOption("zstd".into())),
        ("foo,auth=", Kind::Empty("auth name")),
        ("[::1", Kind::UnterminatedBracket),
        ("[1.2.3.4]", Kind::InvalidIpv6("1.2.3.4".into())),
        ("[::1%]", Kind::InvalidIpv6("::1%".into())),
        ("[::1]x", Kind::Trailing("x".into())),
        ("fe80::1", Kind::UnbracketedIpv6),
        ("::1/4", Kind::UnbracketedIpv6),
        ("host/abc", nan("slot count", "abc")),
        ("host/4abc", nan("slot count", "4abc")),
        ("host/", Kind::Empty("slot count")),
        ("host/99999999999", Kind::OutOfRange("slot count")),
        ("/4", Kind::Empty("hostname")),
        ("user@", Kind::Empty("hostname")),
        ("@host:", Kind::Empty("ssh command")),
        ("@h/x:cmd", nan("slot count", "x")),
        ("host:1:2", Kind::Duplicate("port")),
        ("host/2:3632/3", Kind::Duplicate("slot count")),
        ("ho$t", Kind::InvalidChar("hostname", '$')),
        ("a@b@c", Kind::InvalidChar("hostname", '@')),
        ("-oProxyCommand=x", Kind::LeadingDash("hostname")),
        ("us%r@host", Kind::InvalidChar("user name", '%')),
        ("-l@host", Kind::LeadingDash("user name")),
        ("localhost/2,lzo", Kind::LocalhostOptions),
        ("localhost/2:3632", Kind::Trailing(":3632".into())),
        ("--frobnicate", Kind::UnknownGlobal),
        ("--localslots", Kind::MissingValue("--localslots")),
        ("--localslots_cpp", Kind::MissingValue("--localslots_cpp")),
        ("--localslots=0", Kind::ZeroSlots),
        ("--localslots=x", nan("slot count", "x")),
        ("+zeroconfx", Kind::UnknownGlobal),
    ];
    for (text, kind) in cases {
        let err = parse_hosts(&format!("good:1\n\t{text} later")).unwrap_err();
        let prefix = format!("invalid host {text:?}: ");
        assert!(err.to_string().starts_with(&prefix), "{err}");
        assert_eq!((err.entry.as_str(), err.line, err.kind), (text, 2, kind));
    }
    let msg = |text| parse_hosts(text).unwrap_err().to_string();
    let port = r#"invalid host "foo:99999": port out of range"#;
    assert_eq!(msg("foo:99999"), port);
    let cpp = r#"invalid host "h,cpp": pump mode (,cpp) requires compression (,lzo)"#;
    assert_eq!(msg("h,cpp"), cpp);
}

#[test]
fn hosts_file_with_comments_and_globals() {
    let text = "# farm\n  localhost/3\t# local too\r\n--randomize\r\n\n\
                a:4000/5,lzo\x0bb # trailing\n@c/7,lzo,cpp#no space\n\
                --localslots=6 --localslots_cpp/10 +zeroconf --localslots=5\n#end";
    let list = parse_hosts(text).unwrap();
    let pump = one("@c/7,lzo,cpp");
    let hosts = vec![local(3), one("a:4000/5,lzo"), tcp("b", 3632, 4), pump];
    let want = HostList {
        hosts,
        randomize: true,
        local_slots: Some(5),
        local_slots_cpp: Some(10),
        zeroconf: true,
    };
    assert_eq!(list, want);
    assert_eq!(parse_hosts(" # nothing\n\t\n"), Ok(HostList::default()));
    assert_eq!(parse_hosts("a\n# x\nb:0").unwrap_err().line, 3);
    // `--localslots N` is not a form distcc knows: the bare flag is rejected.
    assert!(parse_hosts("--localslots 4").is_err());
}

#[test]
fn total_slots_is_distcc_minus_j_without_the_ssh_hosts_never_used() {
    let list = parse_hosts("localhost/3 a:4000/5,lzo b @c/7,lzo,cpp").unwrap();
    assert_eq!(list.total_slots(), 12);
    let down = parse_hosts("a,down localhost --localslots=9").unwrap();
    assert_eq!(down.total_slots(), 6);
    let huge = parse_hosts("a/4294967295 b/2").unwrap();
    assert_eq!(huge.total_slots(), u32::MAX);
}

#[test]
fn the_log_names_an_entry_as_the_list_spells_it() {
    let list = parse_hosts("a 127.0.0.1:4000,lzo [::1]").unwrap();
    let names: Vec<String> = list.hosts.iter().map(HostEntry::log_name).collect();
    assert_eq!(names, ["a", "127.0.0.1:4000,lzo", "[::1]"]);
    assert_eq!(list.hosts[0].display(), "a:3632/4");
    // The spelling does not make another entry.
    assert_eq!(list.hosts[0], parse_hosts("a:3632/4").unwrap().hosts[0]);
    assert_eq!(tcp("a", 3632, 4).log_name(), "a:3632/4");
}

#[test]
fn what_ccfarm_reads_but_does_not_act_on_is_told() {
    assert!(
        parse_hosts("a b/2,lzo localhost")
            .unwrap()
            .notices()
            .is_empty()
    );
    let list = parse_hosts("+zeroconf @c u@d:/opt/distccd a").unwrap();
    let notices = list.notices();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[0].contains("+zeroconf") && notices[0].contains("CCFARM_SCHEDULER"));
    assert!(
        notices[1].contains("@c") && notices[1].contains("u@d") && notices[1].contains("ssh"),
        "{notices:?}"
    );
    assert!(list.usable(), "a takes jobs");
    assert!(!parse_hosts("+zeroconf @c").unwrap().usable());
    assert!(!parse_hosts("a,down").unwrap().usable());
    assert!(!parse_hosts("").unwrap().usable());
    assert!(parse_hosts("localhost/2").unwrap().usable());
}

#[test]
fn keys_are_unique_and_filesystem_safe() {
    let cases = [
        ("localhost/3", "localhost"),
        ("10.0.0.2", "tcp_10.0.0.2_3632"),
        ("[::1]:4000", "tcp_++1_4000"),
        ("[fe80::1%eth0]", "tcp_fe80++1=25eth0_3632"),
        ("u@h:cmd", "ssh_u@h"),
        ("@h", "ssh_h"),
    ];
    for (text, key) in cases {
        assert_eq!(one(text).key(), key);
    }
    let tricky = "a:1 a:10 a_1:2 a:12 __1 [::1] [::1]:1 a_b@c a@b_c @a_b_c a@b localhost:3632 \
                  localhost";
    let list = parse_hosts(tricky).unwrap();
    let keys: HashSet<String> = list.hosts.iter().map(HostEntry::key).collect();
    assert_eq!(keys.len(), list.hosts.len(), "{keys:?}");
    keys.iter().for_each(|k| assert!(fs_safe(k), "{k}"));
}

fn fs_safe(key: &str) -> bool {
    let safe = |c: char| c.is_ascii_alphanumeric() || "._+=@-".contains(c);
    !key.is_empty() && key.chars().all(safe)
}

fn name() -> impl Strategy<Value = String> {
    "[a-z0-9_.][a-zA-Z0-9_.-]{0,10}"
}

fn kind() -> impl Strategy<Value = HostTransport> {
    let v6 = (any::<[u16; 8]>(), of("[a-z0-9]{1,4}")).prop_map(|(seg, zone)| {
        let addr = Ipv6Addr::from(seg);
        zone.map_or(addr.to_string(), |z| format!("{addr}%{z}"))
    });
    prop_oneof![
        Just(HostTransport::Localhost),
        (prop_oneof![name(), v6], 1..=u16::MAX)
            .prop_map(|(host, port)| HostTransport::Tcp { host, port }),
        (of(name()), name(), of("[a-zA-Z0-9/._:@=+-]{1,12}")).prop_map(|(user, host, cmd)| {
            HostTransport::Ssh {
                user,
                host,
                command: cmd,
            }
        }),
    ]
}

fn spec() -> impl Strategy<Value = HostEntry> {
    let auth = of(prop_oneof![Just(String::new()), "[A-Za-z0-9/@._=-]{1,12}"]);
    let flags = (any::<bool>(), any::<bool>(), any::<bool>());
    (kind(), 1..=u32::MAX, flags, auth).prop_map(|(kind, slots, (lzo, cpp, down), auth)| {
        let spec = HostEntry::new(kind);
        match spec.transport {
            HostTransport::Localhost => local(slots),
            _ => with(spec, |h| {
                (h.slots, h.lzo, h.cpp, h.down, h.auth) = (slots, lzo, cpp && lzo, down, auth);
            }),
        }
    })
}

fn list() -> impl Strategy<Value = HostList> {
    let slots = || of(1..=u32::MAX);
    let globals = (any::<bool>(), slots(), slots(), any::<bool>());
    (vec(spec(), 0..6), globals).prop_map(|(hosts, (randomize, slots, cpp, zeroconf))| {
        let (local_slots, local_slots_cpp) = (slots, cpp);
        HostList {
            hosts,
            randomize,
            local_slots,
            local_slots_cpp,
            zeroconf,
        }
    })
}

fn identity(spec: &HostEntry) -> (u8, Option<&str>, &str, u16) {
    match &spec.transport {
        HostTransport::Localhost => (0, None, "", 0),
        HostTransport::Tcp { host, port } => (1, None, host, *port),
        HostTransport::Ssh { user, host, .. } => (2, user.as_deref(), host, 0),
    }
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(list in list()) {
        prop_assert_eq!(parse_hosts(&render(&list)), Ok(list.clone()));
        prop_assert_eq!(parse_hosts(&render(&list).replace('\n', " \t ")), Ok(list));
    }

    #[test]
    fn keys_are_injective_and_safe(a in spec(), b in spec()) {
        prop_assert!(fs_safe(&a.key()), "{}", a.key());
        prop_assert_eq!(a.key() == b.key(), identity(&a) == identity(&b));
    }

    #[test]
    fn any_text_never_panics_and_normalises(
        text in prop_oneof![any::<String>(), "[a-z0-9@:/=,%#+\\[\\] \t\n.-]{0,40}"]
    ) {
        if let Ok(list) = parse_hosts(&text) {
            prop_assert_eq!(parse_hosts(&render(&list)), Ok(list));
        }
    }
}
