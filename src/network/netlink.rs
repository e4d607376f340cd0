//! Route netlink in-process: links and addresses through typed messages
//! (netlink-packet-route) on a synchronous socket (netlink-sys), one
//! request and its answer at a time. No process is started and no async
//! runtime exists, so nothing is alive beside the caller's thread when the
//! runtime clones a container.
//!
//! [`Rtnl::open`] talks to the caller's network namespace;
//! [`Rtnl::open_in`] to the namespace of a running process (the socket is
//! made there and keeps talking to it after the thread has come back).

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_MULTIPART, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::net::{IpAddr, Ipv4Addr};

/// A route netlink socket bound to one network namespace.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

/// One veth pair to make: `host` on the bridge with index `bridge`, its
/// peer `inside` created directly in the network namespace of `pid`.
pub struct Veth<'a> {
    pub host: &'a str,
    pub inside: &'a str,
    /// The inside end's hardware address.
    pub inside_mac: [u8; 6],
    pub pid: u32,
    pub bridge: u32,
}

impl Rtnl {
    /// A socket in the caller's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// A socket in the network namespace of process `pid`: this thread
    /// enters it, makes the socket and returns to its own namespace.
    pub fn open_in(pid: i32) -> io::Result<Rtnl> {
        use nix::sched::{setns, CloneFlags};
        let own = std::fs::File::open("/proc/thread-self/ns/net")?;
        let theirs = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        setns(&theirs, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
        let made = Rtnl::open();
        setns(&own, CloneFlags::CLONE_NEWNET).map_err(|e| {
            io::Error::other(format!(
                "cannot return to skiff's own network namespace: {e}"
            ))
        })?;
        made
    }

    /// Send `msg` and collect what answers it: the ack of a change, or
    /// every part of a dump.
    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut at = 0;
            while at < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[at..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if len == 0 {
                    break;
                }
                at += (len + 3) & !3;
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(out),
                        Some(_) => return Err(e.to_io()),
                    },
                    NetlinkPayload::InnerMessage(inner) => {
                        out.push(inner);
                        if !dump && m.header.flags & NLM_F_MULTIPART == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn change(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.exchange(msg, NLM_F_ACK | flags).map(|_| ())
    }

    /// A new bridge `name`, up.
    pub fn add_bridge(&mut self, name: &str) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes = vec![
            LinkAttribute::IfName(name.to_string()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.change(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// One veth pair, the host end up and on its bridge, in one request.
    pub fn add_veth(&mut self, v: &Veth<'_>) -> io::Result<()> {
        let mut peer = LinkMessage::default();
        peer.attributes = vec![
            LinkAttribute::IfName(v.inside.to_string()),
            LinkAttribute::Address(v.inside_mac.to_vec()),
            LinkAttribute::NetNsPid(v.pid),
        ];
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes = vec![
            LinkAttribute::IfName(v.host.to_string()),
            LinkAttribute::Controller(v.bridge),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
            ]),
        ];
        self.change(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Set link `index` up.
    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.change(RouteNetlinkMessage::SetLink(m), 0)
    }

    /// Remove link `index` (a veth takes its peer with it).
    pub fn delete(&mut self, index: u32) -> io::Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.change(RouteNetlinkMessage::DelLink(m), 0)
    }

    /// `addr/prefix` on link `index` (with its broadcast address).
    pub fn add_address(&mut self, index: u32, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        };
        let broadcast = Ipv4Addr::from(u32::from(addr) | !mask);
        m.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
            AddressAttribute::Broadcast(broadcast),
        ];
        self.change(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Every link of the namespace: (index, name).
    pub fn links(&mut self) -> io::Result<Vec<(u32, String)>> {
        let answers = self.exchange(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(answers
            .into_iter()
            .filter_map(|a| match a {
                RouteNetlinkMessage::NewLink(l) => {
                    let name = l.attributes.iter().find_map(|at| match at {
                        LinkAttribute::IfName(n) => Some(n.clone()),
                        _ => None,
                    })?;
                    Some((l.header.index, name))
                }
                _ => None,
            })
            .collect())
    }

    /// The index of link `name`, if it exists here.
    pub fn index_of(&mut self, name: &str) -> io::Result<Option<u32>> {
        Ok(self
            .links()?
            .into_iter()
            .find(|(_, n)| n == name)
            .map(|(i, _)| i))
    }

    /// Every IPv4 address of the namespace: (link index, address).
    pub fn addresses_v4(&mut self) -> io::Result<Vec<(u32, Ipv4Addr)>> {
        let mut ask = AddressMessage::default();
        ask.header.family = AddressFamily::Inet;
        let answers = self.exchange(RouteNetlinkMessage::GetAddress(ask), NLM_F_DUMP)?;
        Ok(answers
            .into_iter()
            .filter_map(|a| match a {
                RouteNetlinkMessage::NewAddress(m) => m.attributes.iter().find_map(|at| match at {
                    AddressAttribute::Local(IpAddr::V4(ip))
                    | AddressAttribute::Address(IpAddr::V4(ip)) => Some((m.header.index, *ip)),
                    _ => None,
                }),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs in a network namespace of its own (unshare: root only) so
    /// nothing of the host's is touched; skipped without root.
    #[test]
    fn bridge_veth_address_round_trip_in_own_namespace() {
        if !nix::unistd::Uid::effective().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        // A thread of our own, so unshare does not move the test harness.
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let mut nl = Rtnl::open().unwrap();
            nl.add_bridge("nltestbr0").unwrap();
            let br = nl.index_of("nltestbr0").unwrap().unwrap();
            let gw: Ipv4Addr = "192.0.2.1".parse().unwrap();
            nl.add_address(br, gw, 24).unwrap();
            assert!(nl.addresses_v4().unwrap().contains(&(br, gw)));
            // A veth whose peer lands in this same namespace (our pid's).
            let pid = nix::unistd::gettid().as_raw() as u32;
            nl.add_veth(&Veth {
                host: "nltesth0",
                inside: "nltesti0",
                inside_mac: [0x02, 0x42, 192, 0, 2, 9],
                pid,
                bridge: br,
            })
            .unwrap();
            let names: Vec<String> = nl.links().unwrap().into_iter().map(|l| l.1).collect();
            assert!(names.contains(&"nltesth0".to_string()), "{names:?}");
            assert!(names.contains(&"nltesti0".to_string()), "{names:?}");
            // The same name again: the kernel's own error comes back.
            let again = nl.add_bridge("nltestbr0").unwrap_err();
            assert_eq!(again.raw_os_error(), Some(libc::EEXIST));
            let h = nl.index_of("nltesth0").unwrap().unwrap();
            nl.delete(h).unwrap();
            assert_eq!(nl.index_of("nltesti0").unwrap(), None);
        })
        .join()
        .unwrap();
    }
}
