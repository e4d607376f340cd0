//! Device access on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program, hand
//! assembled from the default allow list (a dozen instructions per rule) and
//! attached to the container's cgroup. The kernel keeps it attached after our
//! descriptor closes and frees it with the cgroup.
//!
//! The program sees `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` with `access_type = access << 16 | type` (type 1 block,
//! 2 char; access 1 mknod, 2 read, 4 write) and returns 1 to allow.

use super::devices::{DeviceRule, DEFAULT_ALLOW};
use crate::runtime::error::{Result, RuntimeError};
use crate::sys::bpf;
use std::os::fd::AsFd;
use std::path::Path;

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const MOV_X: u8 = 0xbf; // r_dst = r_src
const MOV_K: u8 = 0xb7; // r_dst = imm
const AND_K: u8 = 0x57; // r_dst &= imm
const RSH_K: u8 = 0x77; // r_dst >>= imm
const JNE_K: u8 = 0x55; // if r_dst != imm goto +off
const EXIT: u8 = 0x95;

fn access_bits(a: &str) -> i32 {
    a.chars()
        .map(|c| match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        })
        .sum()
}

/// The program for `rules`: r3 = type, r4 = access, r5 = major, r6 = minor.
pub fn assemble(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(MOV_X, 3, 2, 0, 0),
        insn(AND_K, 3, 0, 0, 0xffff),
        insn(MOV_X, 4, 2, 0, 0),
        insn(RSH_K, 4, 0, 0, 16),
        insn(LDX_W, 5, 1, 4, 0),
        insn(LDX_W, 6, 1, 8, 0),
    ];
    for r in rules {
        // Each check jumps past the rest of this rule's block when it fails.
        let mut block: Vec<Insn> = Vec::new();
        block.push(insn(JNE_K, 3, 0, 0, if r.kind == 'b' { 1 } else { 2 }));
        let allowed = access_bits(r.access);
        if allowed != 7 {
            block.push(insn(MOV_X, 7, 4, 0, 0));
            block.push(insn(AND_K, 7, 0, 0, !allowed));
            block.push(insn(JNE_K, 7, 0, 0, 0));
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 6, 0, 0, m as i32));
        }
        block.push(insn(MOV_K, 0, 0, 0, 1));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Load the default device program and attach it to the cgroup at `dir`.
pub fn attach_default(dir: &Path) -> Result<()> {
    let prog = assemble(DEFAULT_ALLOW);
    let err = |what: &str, e: std::io::Error| RuntimeError::Cgroup {
        path: dir.to_path_buf(),
        msg: format!("{what} the device BPF program: {e}"),
    };
    let prog_fd = bpf::load_cgroup_device(&prog, c"Apache-2.0", "skiff_device")
        .map_err(|e| err("cannot load", e))?;
    let cg = std::fs::File::open(dir).map_err(|e| err("cannot open the cgroup for", e))?;
    bpf::attach_cgroup_device(cg.as_fd(), prog_fd.as_fd()).map_err(|e| err("cannot attach", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Interpret the assembled program for one access, as the kernel would.
    fn run(p: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [access << 16 | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = ctx[(r[src] as usize + i.off as usize) / 4] as u64,
                MOV_X => r[dst] = r[src],
                MOV_K => r[dst] = i.imm as i64 as u64,
                AND_K => r[dst] &= i.imm as i64 as u64,
                RSH_K => r[dst] >>= i.imm,
                JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize
                    }
                }
                EXIT => return r[0],
                c => panic!("unknown opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn default_rules() {
        let p = assemble(DEFAULT_ALLOW);
        let (chr, blk, m, rd, wr) = (2, 1, 1, 2, 4);
        assert_eq!(run(&p, chr, rd | wr, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&p, chr, rd, 136, 7), 1, "pts");
        assert_eq!(run(&p, chr, m, 8, 0), 1, "mknod anything");
        assert_eq!(run(&p, blk, m, 8, 0), 1, "mknod block");
        assert_eq!(run(&p, blk, rd, 8, 0), 0, "read a disk");
        assert_eq!(run(&p, chr, rd, 1, 1), 0, "/dev/mem");
        assert_eq!(run(&p, chr, wr | m, 10, 200), 0, "tun");
    }
}
