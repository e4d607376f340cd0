//! The one size parser and the one size printer, with docker's rules:
//! `-m 512m`, `--log-opt max-size=10m`, `SKIFF_MAX_LAYER_BYTES=64G` and
//! registry chunk sizes all read the same spellings, and every size skiff
//! prints looks like docker's.

/// A size skiff cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("invalid size {0:?}: expected a number with an optional unit b, k, m, g, t or p (binary: 1k = 1024), e.g. 512m")]
    Invalid(String),
    #[error("size {0:?} is too large")]
    TooLarge(String),
}

/// docker's `units.RAMInBytes`: `4096`, `512k`, `64m`, `1.5g`, `64MB`,
/// `2KiB`, `1Ti`: a non-negative number (decimals allowed), an optional
/// binary unit, an optional `i` and `b`, any case.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let bad = || SizeError::Invalid(s.to_string());
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                'p' => 50,
                _ => return Err(bad()),
            };
            (t[..i].trim_end(), shift)
        }
        _ => (t, 0),
    };
    let digits_ok = !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && num.bytes().filter(|b| *b == b'.').count() <= 1
        && !num.starts_with('.')
        && !num.ends_with('.');
    if !digits_ok {
        return Err(bad());
    }
    let unit = 1u64 << shift;
    match num.split_once('.') {
        None => num
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .ok_or_else(|| SizeError::TooLarge(s.to_string())),
        Some(_) => {
            let v: f64 = num.parse().map_err(|_| bad())?;
            let bytes = v * unit as f64;
            if bytes >= u64::MAX as f64 {
                return Err(SizeError::TooLarge(s.to_string()));
            }
            Ok(bytes as u64)
        }
    }
}

/// docker's `units.HumanSize`: SI units with four significant digits,
/// trailing zeros dropped: `12B`, `4.26MB`, `1MB`, `123.5MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    let decimals = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{v:.decimals$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}{}", UNITS[u])
}

/// A duration skiff cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?}: use a duration such as 30s, 500ms, 1m30s or 2h")]
pub struct DurationError(pub String);

/// Go's `time.ParseDuration` as docker's flags take it (`30s`, `500ms`,
/// `1m30s`, `1.5h`, units ns us ms s m h), plus a bare number as seconds
/// (`--ready-timeout 30`). Negative durations are refused.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, DurationError> {
    let bad = || DurationError(s.to_string());
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = t.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).map_err(|_| bad());
    }
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let (num, tail) = rest.split_at(n);
        let v: f64 = num.parse().map_err(|_| bad())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += v * scale;
        rest = tail;
    }
    std::time::Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_reads_them() {
        let ok = [
            ("4096", 4096),
            ("0", 0),
            ("1k", 1024),
            ("512KiB", 512 << 10),
            ("2KiB", 2048),
            ("16m", 16 << 20),
            ("64MB", 64 << 20),
            ("1.5m", 3 << 19),
            ("1.5g", 3 << 29),
            ("64G", 64 << 30),
            ("1Ti", 1 << 40),
            (" 10m ", 10 << 20),
            ("10 m", 10 << 20),
        ];
        for (s, n) in ok {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for s in [
            "", "G", "-1", "1X", "x", "abc", "1..5m", ".5m", "5.m", "m", "1e3",
        ] {
            assert!(matches!(parse_size(s), Err(SizeError::Invalid(_))), "{s}");
        }
        for s in ["99999999999999999999", "16777216T", "99999999p"] {
            assert!(matches!(parse_size(s), Err(SizeError::TooLarge(_))), "{s}");
        }
    }

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(human_size(12), "12B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(1_000_000), "1MB");
        assert_eq!(human_size(45_600_000), "45.6MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
        assert_eq!(human_size(1_234_000), "1.234MB");
    }

    #[test]
    fn durations_as_go_reads_them() {
        use std::time::Duration;
        let ok = [
            ("30s", Duration::from_secs(30)),
            ("500ms", Duration::from_millis(500)),
            ("1m30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5s", Duration::from_millis(1500)),
            ("30", Duration::from_secs(30)),
            ("0s", Duration::ZERO),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        for s in ["", "soon", "5x", "-1s", "s", "1m30", "-3"] {
            assert!(parse_duration(s).is_err(), "{s}");
        }
    }
}
