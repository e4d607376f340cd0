//! IPv4 subnets: parsing `10.89.0.0/24`, overlap checks, and the host's own
//! routes (from /proc/net/route) that a new network must not shadow.

use super::{NetworkError, Result};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// An IPv4 network: its base address and prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    fn mask(prefix: u8) -> u32 {
        if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        }
    }

    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(Subnet::mask(self.prefix))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Subnet::mask(self.prefix) == u32::from(self.addr)
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let p = self.prefix.min(other.prefix);
        let m = Subnet::mask(p);
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }

    /// The first host address: the bridge's (the containers' gateway).
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !Subnet::mask(self.prefix))
    }

    /// Addresses a container may get: all hosts but the gateway.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.addr) + 2;
        let last = u32::from(self.broadcast());
        (first..last).map(Ipv4Addr::from)
    }

    /// The `n`th subnet of this prefix after this one (candidates).
    fn nth_next(&self, n: u32) -> Option<Subnet> {
        let step = 1u32.checked_shl(32 - self.prefix as u32)?;
        let a = u32::from(self.addr).checked_add(step.checked_mul(n)?)?;
        Some(Subnet {
            addr: Ipv4Addr::from(a),
            prefix: self.prefix,
        })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Subnet {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Subnet> {
        let bad = |why: &str| NetworkError::Invalid(format!("invalid subnet {s:?}: {why}"));
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| bad("expected an IPv4 CIDR such as 10.89.0.0/24"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = p
            .parse()
            .ok()
            .filter(|p| (8..=29).contains(p))
            .ok_or_else(|| bad("the prefix length must be between 8 and 29"))?;
        let base = Ipv4Addr::from(u32::from(addr) & Subnet::mask(prefix));
        if base != addr {
            return Err(bad(&format!(
                "host bits are set (did you mean {base}/{prefix}?)"
            )));
        }
        if addr.is_loopback() || addr.is_multicast() || addr.is_unspecified() || addr.is_broadcast()
        {
            return Err(bad("not a unicast range"));
        }
        Ok(Subnet { addr, prefix })
    }
}

/// Subnets the host routes somewhere (default routes excluded): a network
/// on one of them would hide part of the host's network.
pub fn host_routes() -> Vec<(Subnet, String)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse_routes(&text)
}

fn parse_routes(text: &str) -> Vec<(Subnet, String)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 {
            continue;
        }
        let (Ok(dest), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        // /proc/net/route prints the raw network-order words as host
        // (little-endian) integers.
        let dest = Ipv4Addr::from(dest.to_le_bytes());
        let prefix = u32::from(Ipv4Addr::from(mask.to_le_bytes())).count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        out.push((
            Subnet {
                addr: Ipv4Addr::from(u32::from(dest) & Subnet::mask(prefix)),
                prefix,
            },
            f[0].to_string(),
        ));
    }
    out
}

/// The first free subnet starting at `first` (same prefix), skipping
/// `taken` ones and the host's routes.
pub fn pick(first: Subnet, taken: &[Subnet], routes: &[(Subnet, String)]) -> Option<Subnet> {
    (0..4096).find_map(|n| {
        let s = first.nth_next(n)?;
        let free =
            !taken.iter().any(|t| t.overlaps(&s)) && !routes.iter().any(|(r, _)| r.overlaps(&s));
        free.then_some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_overlap() {
        let s: Subnet = "10.89.0.0/24".parse().unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 89, 0, 1));
        assert_eq!(s.broadcast(), Ipv4Addr::new(10, 89, 0, 255));
        assert_eq!(s.hosts().count(), 253);
        assert!(s.contains("10.89.0.77".parse().unwrap()));
        assert!(!s.contains("10.89.1.1".parse().unwrap()));
        let big: Subnet = "10.88.0.0/14".parse().unwrap();
        assert!(big.overlaps(&s) && s.overlaps(&big));
        assert!(!s.overlaps(&"10.89.1.0/24".parse().unwrap()));
        for bad in [
            "10.89.0.1/24",
            "10.89.0.0",
            "10.89.0.0/33",
            "x/24",
            "127.0.0.0/8",
            "10.0.0.0/30",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn routes_and_pick() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                    eth0\t0000590A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        let r = parse_routes(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0.to_string(), "10.89.0.0/16");
        let first: Subnet = "10.89.0.0/24".parse().unwrap();
        let taken = ["10.90.0.0/24".parse().unwrap()];
        assert_eq!(pick(first, &taken, &r).unwrap().to_string(), "10.90.1.0/24");
    }
}
