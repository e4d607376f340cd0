//! The devices a container may use: docker's default list. The same rules
//! feed the v1 `devices.allow` file and the v2 BPF program.

/// One allow rule: type ('c' or 'b'), major/minor (`None` = any), access.
#[derive(Clone, Copy, Debug)]
pub struct DeviceRule {
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// Subset of "rwm".
    pub access: &'static str,
}

const fn rule(
    kind: char,
    major: Option<u32>,
    minor: Option<u32>,
    access: &'static str,
) -> DeviceRule {
    DeviceRule {
        kind,
        major,
        minor,
        access,
    }
}

/// mknod of anything (the nodes still need an allow rule to be opened),
/// then read/write of null, zero, full, random, urandom, tty, console,
/// ptmx and the pty slaves.
pub const DEFAULT_ALLOW: &[DeviceRule] = &[
    rule('c', None, None, "m"),
    rule('b', None, None, "m"),
    rule('c', Some(1), Some(3), "rwm"),
    rule('c', Some(1), Some(5), "rwm"),
    rule('c', Some(1), Some(7), "rwm"),
    rule('c', Some(1), Some(8), "rwm"),
    rule('c', Some(1), Some(9), "rwm"),
    rule('c', Some(5), Some(0), "rwm"),
    rule('c', Some(5), Some(1), "rwm"),
    rule('c', Some(5), Some(2), "rwm"),
    rule('c', Some(136), None, "rwm"),
];

impl DeviceRule {
    /// The v1 `devices.allow` line: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            n(self.major),
            n(self.minor),
            self.access
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn v1_lines() {
        let lines: Vec<String> = super::DEFAULT_ALLOW.iter().map(|r| r.v1_line()).collect();
        assert_eq!(lines[0], "c *:* m");
        assert_eq!(lines[2], "c 1:3 rwm");
        assert_eq!(lines[10], "c 136:* rwm");
    }
}
