//! What a host's answer to a job means: the user's result (a success or a compile
//! error, never held against the host) apart from a failure of the host or the network.
//!
//! Pure: it classifies a reply already read, so every rule is tested without a socket.

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
    },
}

/// Classify a job's exchange with a host: infrastructure failures (the connection, the
/// server's own 100..=120 statuses, a compiler killed by a signal) apart from the
/// compiler's verdict on the user's code.
pub fn judge(reply: Result<Reply, RemoteError>) -> Verdict {
    let reply = match reply {
        Ok(reply) => reply,
        Err(e) => {
            return Verdict::HostFailed {
                code: e.exit_code(),
                why: e.to_string(),
                back_off: true,
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
        };
    }
    Verdict::CompileError(reply)
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
            Verdict::HostFailed { code: 113, back_off: false, ref why } if why.ends_with(": not allowed")
        ));
        assert!(matches!(
            judge(Err(RemoteError::BrokenOff("h:1".into()))),
            Verdict::HostFailed {
                code: exit::IO_ERROR,
                ..
            }
        ));
    }
}
