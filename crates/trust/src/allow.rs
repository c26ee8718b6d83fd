//! `--allow ADDR[/BITS]`: which client addresses may use the distcc port.
//!
//! An empty list never means "everyone" (distcc 3.3–3.4 shipped that bug): with no
//! `--allow`, only loopback is allowed.

use std::net::IpAddr;
use std::str::FromStr;

/// One allowed network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    bits: u8,
}

/// Why an `--allow` value was not understood.
#[derive(Debug, thiserror::Error)]
#[error("invalid --allow value {value:?}: {reason}")]
pub struct CidrError {
    value: String,
    reason: &'static str,
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(value: &str) -> Result<Cidr, CidrError> {
        let err = |reason| CidrError {
            value: value.to_owned(),
            reason,
        };
        let (addr, bits) = match value.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (value, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b.parse::<u8>().ok().filter(|&b| b <= max).ok_or_else(|| {
                err(if addr.is_ipv4() {
                    "mask must be 0..=32"
                } else {
                    "mask must be 0..=128"
                })
            })?,
        };
        Ok(Cidr { addr, bits })
    }
}

impl Cidr {
    /// Whether `ip` lies in this network. IPv4-mapped IPv6 peers (`::ffff:a.b.c.d`,
    /// as seen on dual-stack sockets) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_eq(&net.octets(), &ip.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = bits as usize;
    let whole = bits / 8;
    if a[..whole] != b[..whole] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[whole] & mask == b[whole] & mask
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

/// The allowed client networks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(Vec<Cidr>);

impl AllowList {
    /// The given networks, or loopback only when there are none.
    pub fn new(networks: Vec<Cidr>) -> AllowList {
        if networks.is_empty() {
            AllowList(vec![
                Cidr {
                    addr: IpAddr::from([127, 0, 0, 0]),
                    bits: 8,
                },
                Cidr {
                    addr: IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
                    bits: 128,
                },
            ])
        } else {
            AllowList(networks)
        }
    }

    /// Whether a peer may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The networks, for logs and status.
    pub fn networks(&self) -> &[Cidr] {
        &self.0
    }
}

/// The networks, comma-separated, for log lines.
impl std::fmt::Display for AllowList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, net) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_is_loopback_only() {
        let list = AllowList::new(vec![]);
        assert_eq!(list.to_string(), "127.0.0.0/8, ::1/128");
        assert!(list.allows(ip("127.0.0.1")));
        assert!(list.allows(ip("127.9.8.7")));
        assert!(list.allows(ip("::1")));
        assert!(list.allows(ip("::ffff:127.0.0.1")));
        assert!(!list.allows(ip("10.0.0.1")));
        assert!(!list.allows(ip("192.168.1.1")));
        assert!(!list.allows(ip("::2")));
    }

    #[test]
    fn masks() {
        let net: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        let net: Cidr = "192.168.1.128/25".parse().unwrap();
        assert!(net.contains(ip("192.168.1.200")));
        assert!(!net.contains(ip("192.168.1.100")));
        let host: Cidr = "127.0.0.2".parse().unwrap();
        assert!(host.contains(ip("127.0.0.2")));
        assert!(!host.contains(ip("127.0.0.1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        assert!(!all.contains(ip("fe80::1")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
    }

    #[test]
    fn bad_values() {
        for bad in [
            "",
            "10.0.0.0/33",
            "::/129",
            "host.example",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "1.2.3",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }
}
