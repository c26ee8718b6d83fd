//! The key of a distcc request, as a server, the scheduler's proxy and a client all
//! compute it from the same bytes: the compiler's identity, the arguments as sent and
//! the preprocessed source. Whoever stores and whoever looks up agree by construction.

use ccfarm_proto::distcc::{Payload, Request};

use crate::key::{Key, KeyInputs, NotCacheable, key};

/// How a compiler's identity enters a key: `-dumpfullversion` and `-dumpmachine`, as
/// servers report them at registration.
pub fn identity(version: &str, target: &str) -> String {
    format!("{version} {target}")
}

/// The key of `request`, compiled by a compiler of `identity` (from [`identity`]). The
/// working directory is not sent; with `-g`, gcc writes it into the preprocessed source.
pub fn request_key(identity: &str, request: &Request) -> Result<Key, NotCacheable> {
    let Payload::Preprocessed(source) = &request.payload else {
        return Err(NotCacheable::SourceTree);
    };
    let argv = request
        .argv
        .iter()
        .map(|a| String::from_utf8(a.to_vec()).map_err(|_| NotCacheable::NotText))
        .collect::<Result<Vec<_>, _>>()?;
    key(&KeyInputs {
        compiler: identity,
        argv: &argv,
        cwd: None,
        source,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use ccfarm_proto::distcc::{TreeEntry, Version};

    use super::*;

    fn request(argv: &[&[u8]], payload: Payload) -> Request {
        Request {
            version: Version::V1,
            argv: argv.iter().map(|a| Bytes::copy_from_slice(a)).collect(),
            payload,
        }
    }

    #[test]
    fn the_key_follows_the_bytes_sent_and_not_the_protocol() {
        let gcc = identity("12.2.0", "x86_64-linux-gnu");
        let source = Payload::Preprocessed(Bytes::from_static(b"int x;\n"));
        let one = request(
            &[b"gcc", b"-O2", b"-c", b"a.c", b"-o", b"a.o"],
            source.clone(),
        );
        let mut two = one.clone();
        two.version = Version::V2;
        assert_eq!(request_key(&gcc, &one), request_key(&gcc, &two));
        let other = identity("13.1.0", "x86_64-linux-gnu");
        assert_ne!(request_key(&gcc, &one), request_key(&other, &one));
    }

    #[test]
    fn pump_jobs_and_arguments_that_are_not_text_have_no_key() {
        let gcc = identity("12.2.0", "x86_64-linux-gnu");
        let tree = Payload::Tree {
            cwd: Bytes::from_static(b"/p"),
            entries: Vec::<TreeEntry>::new(),
        };
        assert_eq!(
            request_key(&gcc, &request(&[b"gcc", b"-c", b"a.c"], tree)),
            Err(NotCacheable::SourceTree)
        );
        let source = Payload::Preprocessed(Bytes::from_static(b"int x;\n"));
        assert_eq!(
            request_key(&gcc, &request(&[b"gcc", b"-c", b"\xff.c"], source)),
            Err(NotCacheable::NotText)
        );
    }
}
