//! `skiff metrics --listen ADDR`: a plain blocking HTTP/1.1 server on a std
//! `TcpListener` that answers `GET /metrics` with a fresh scrape. One
//! connection at a time (Prometheus scrapes one target serially); a client
//! that stalls is dropped after a few seconds. Small enough that a crate
//! (and an async runtime) would cost more than it saves.

use super::metrics::Collector;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Longest request head read.
const MAX_HEAD: usize = 8192;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}{hint}")]
    Listen {
        addr: String,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Bind `addr` (`127.0.0.1:9323`, or port 0 for any free port).
pub fn bind(addr: &str) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr).map_err(|source| ServeError::Listen {
        addr: addr.to_string(),
        hint: match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another process listens there: stop it or choose another port)"
            }
            std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
            _ => "",
        },
        source,
    })
}

/// Serve until the process is killed.
pub fn serve(listener: TcpListener, collector: &mut Collector) -> ! {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = handle(stream, peer, collector);
            }
            // EMFILE and friends: wait a little rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The method and path of a request head, if it is complete.
pub fn request_line(head: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let first = text.lines().next()?;
    let mut parts = first.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    Some((method, path))
}

fn handle(mut s: TcpStream, _peer: SocketAddr, collector: &mut Collector) -> std::io::Result<()> {
    s.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    s.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if head.len() > MAX_HEAD {
            respond(
                &mut s,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"",
                false,
            )?;
            linger(&mut s);
            return Ok(());
        }
    }
    let Some((method, path)) = request_line(&head) else {
        return respond(
            &mut s,
            "400 Bad Request",
            "text/plain",
            b"bad request\n",
            false,
        );
    };
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return respond(
            &mut s,
            "405 Method Not Allowed",
            "text/plain",
            b"only GET\n",
            false,
        );
    }
    match path.as_str() {
        "/metrics" => {
            let body = collector.render();
            respond(&mut s, "200 OK", CONTENT_TYPE, body.as_bytes(), head_only)
        }
        "/" => respond(
            &mut s,
            "200 OK",
            "text/html; charset=utf-8",
            b"<html><body><a href=\"/metrics\">/metrics</a></body></html>\n",
            head_only,
        ),
        _ => respond(
            &mut s,
            "404 Not Found",
            "text/plain",
            b"not found: try /metrics\n",
            head_only,
        ),
    }
}

/// Close gently after an early answer: unread input would make the kernel
/// reset the connection, and the client could lose the answer.
fn linger(s: &mut TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut sink = [0u8; 4096];
    let mut left = 1usize << 20;
    while left > 0 {
        match s.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    if !head_only {
        s.write_all(body)?;
    }
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_lines() {
        assert_eq!(
            request_line(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(("GET".into(), "/metrics".into()))
        );
        assert_eq!(request_line(b"\xff\xfe"), None);
    }

    #[test]
    fn a_port_in_use_is_a_clear_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let e = bind(&addr).unwrap_err().to_string();
        assert!(
            e.contains(&addr) && e.contains("another process listens there"),
            "{e}"
        );
    }
}
