//! What a host's answer to a job means: the user's result (a success or a compile
//! error, never held against the host) apart from a failure of the host or the network.
//!
//! Pure: it classifies a reply already read, so every rule is tested without a socket.

use bytes::Bytes;
use ccfarm_proto::distcc::Reply;

use crate::exit;
use crate::remote::RemoteError;

/// What a host's answer to a job means.
#[derive(Debug)]
pub enum Verdict {
    /// The compile succeeded; the outputs are in the reply, not yet written.
    Success(Reply),
    /// The compiler reported an error: the user's, not the host's.
    CompileError(Reply),
    /// The host could not run the job.
    HostFailed {
        /// distcc's exit code for the failure.
        code: u8,
        /// Why, for the log.
        why: String,
        /// Whether the failure is the host's health (a refusal is about the job).
        back_off: bool,
        /// What a distcc server said when it failed the job with one of its own
        /// statuses (its stderr), shown to the user when the job then fails, as distcc
        /// shows it.
        message: Option<Bytes>,
    },
}

/// Classify a job's exchange with a host: infrastructure failures (the connection, the
/// server's own 100..=120 statuses, a compiler killed by a signal, a compiler failed by
/// the server's disk or limits) apart from the compiler's verdict on the user's code.
pub fn judge(reply: Result<Reply, RemoteError>) -> Verdict {
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            return Verdict::HostFailed {
                code: e.exit_code(),
                why: e.to_string(),
                back_off: true,
                message: None,
            };
        }
    };
    let status = reply.status;
    let (code, signal) = ((status >> 8) & 0xff, status & 0x7f);
    if status == 0 {
        return Verdict::Success(reply);
    }
    if signal != 0 {
        return Verdict::HostFailed {
            code: exit::GENERAL,
            why: format!("the remote compiler died of signal {signal}"),
            back_off: true,
            message: None,
        };
    }
    // Statuses a distcc server uses for its own failures (distcc's 100..=120): the
    // job never ran properly there.
    if (100..=120).contains(&code) {
        let detail = String::from_utf8_lossy(&reply.stderr).trim().to_owned();
        let why = format!(
            "server failed the job with code {code}{}{detail}",
            if detail.is_empty() { "" } else { ": " }
        );
        // A refusal is about this job, not the host's health.
        let back_off = code != u32::from(exit::ACCESS_DENIED);
        return Verdict::HostFailed {
            code: code as u8,
            why,
            back_off,
            message: Some(reply.stderr.clone()).filter(|m| !m.is_empty()),
        };
    }
    if let Some(fault) = server_fault(&reply.stderr) {
        return Verdict::HostFailed {
            code: exit::IO_ERROR,
            why: format!("the server could not run the compiler: {fault}"),
            back_off: true,
            message: None,
        };
    }
    Verdict::CompileError(reply)
}

/// What a compiler prints when the machine it runs on fails it, whatever the source:
/// a full or read-only disk, no file descriptors left, a compiler process killed from
/// outside. Such a failure is the server's, so the job goes elsewhere and the host is
/// backed off, rather than the user being shown a server's broken disk as their error.
const SERVER_FAULTS: [&str; 5] = [
    "No space left on device",
    "Read-only file system",
    "Too many open files",
    "Disk quota exceeded",
    "Killed signal terminated program",
];

/// The first server fault named in the compiler's stderr, if any.
fn server_fault(stderr: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(stderr);
    SERVER_FAULTS.into_iter().find(|fault| text.contains(fault))
}

#[cfg(test)]
mod tests {
    use ccfarm_proto::distcc::Version;

    use super::*;

    #[test]
    fn judging_replies() {
        let reply = |status: u32, stderr: &str| {
            Ok(Reply {
                version: Version::V1,
                status,
                stderr: bytes::Bytes::copy_from_slice(stderr.as_bytes()),
                stdout: bytes::Bytes::new(),
                object: bytes::Bytes::new(),
                dotd: None,
            })
        };
        assert!(matches!(judge(reply(0, "")), Verdict::Success(_)));
        assert!(matches!(judge(reply(1 << 8, "")), Verdict::CompileError(_)));
        assert!(matches!(
            judge(reply(9, "")),
            Verdict::HostFailed { back_off: true, .. }
        ));
        assert!(matches!(
            judge(reply(113 << 8, "not allowed")),
            Verdict::HostFailed { code: 113, back_off: false, ref why, message: Some(ref m) }
                if why.ends_with(": not allowed") && m == "not allowed"
        ));
        // A server status with nothing said, and a host failure that is not the server's
        // word, have no message to show.
        assert!(matches!(
            judge(reply(110 << 8, "")),
            Verdict::HostFailed { message: None, .. }
        ));
        assert!(matches!(
            judge(reply(9, "killed")),
            Verdict::HostFailed { message: None, .. }
        ));
        assert!(matches!(
            judge(Err(RemoteError::BrokenOff("h:1".into()))),
            Verdict::HostFailed {
                code: exit::IO_ERROR,
                ..
            }
        ));
    }

    #[test]
    fn a_full_or_broken_server_disk_is_the_servers_failure_not_the_users() {
        for stderr in [
            "/tmp/ccfarmd-1-x/input.s: Assembler messages:\n/tmp/ccfarmd-1-x/input.s: Fatal error: can't write 4 bytes to section .text of x.o: 'No space left on device'\n",
            "cc1: error: x.o: Read-only file system\n",
            "x.c: fatal error: cannot open x.i: Too many open files\n",
            "gcc: internal compiler error: Killed signal terminated program cc1\n",
        ] {
            match judge(failed(stderr)) {
                Verdict::HostFailed { back_off, code, .. } => {
                    assert!(back_off, "{stderr}");
                    assert_eq!(code, exit::IO_ERROR);
                }
                other => panic!("{stderr}: {other:?}"),
            }
        }
        let user_error = failed("x.c:1:1: error: unknown type name 'nt'\n");
        assert!(matches!(judge(user_error), Verdict::CompileError(_)));
    }

    /// A reply with status 1 (the compiler's failure) and this stderr.
    fn failed(stderr: &str) -> Result<Reply, RemoteError> {
        Ok(Reply {
            version: Version::V1,
            status: 1 << 8,
            stderr: bytes::Bytes::copy_from_slice(stderr.as_bytes()),
            stdout: bytes::Bytes::new(),
            object: bytes::Bytes::new(),
            dotd: None,
        })
    }
}
