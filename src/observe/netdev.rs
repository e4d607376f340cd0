//! A container's network counters: `/proc/<pid>/net/dev` of its init shows
//! the interfaces of the container's network namespace, without entering
//! it. Loopback is left out, as docker and cAdvisor do: it is traffic the
//! container sends to itself.

/// Bytes received and sent on one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    pub name: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The interfaces (loopback excepted) of the network namespace of `pid`;
/// empty if the process is gone.
pub fn read(pid: i32) -> Vec<Iface> {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

/// Parse the text of `/proc/net/dev`.
pub fn parse(text: &str) -> Vec<Iface> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|n| n.parse().unwrap_or(0))
                .collect();
            Some(Iface {
                name: name.to_string(),
                rx_bytes: *f.first()?,
                tx_bytes: *f.get(8)?,
            })
        })
        .collect()
}

/// Totals over interfaces: (received, sent).
pub fn totals(ifaces: &[Iface]) -> (u64, u64) {
    ifaces.iter().fold((0, 0), |(r, t), i| {
        (r.saturating_add(i.rx_bytes), t.saturating_add(i.tx_bytes))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_net_dev() {
        let t = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo: 2341   19    0    0    0     0          0         0 2341   19    0    0    0     0       0          0\n  \
eth0: 77165755    2378    0    0    0     0          0         0   138942    1442    0    0    0     0       0          0\n";
        let v = super::parse(t);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].name, "eth0");
        assert_eq!(v[0].rx_bytes, 77165755);
        assert_eq!(v[0].tx_bytes, 138942);
        assert_eq!(super::totals(&v), (77165755, 138942));
    }
}
