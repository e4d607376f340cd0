//! A seccomp policy as skiff holds it (what each system call number gets),
//! and its compilation into the BPF programs the kernel runs.
//!
//! seccompiler compiles one action per filter: the policy becomes one
//! filter answering ALLOW for every rule and the default action otherwise,
//! plus one filter per other action that the rules use (matching calls get
//! that action, the rest ALLOW). The kernel runs every filter and keeps the
//! most restrictive answer (the newest filter's among equal ones), which is
//! exactly "the rule's action if a rule matches, else the default".
//!
//! seccompiler's program tests the system call numbers one after another,
//! which for skiff's default policy was 1,495 instructions, converted and
//! JIT-compiled by the kernel at every container start. So the first
//! filter decides by the number alone wherever it can: numbers the policy
//! does not know get ENOSYS (newer than the policy, or unassigned), the
//! calls a Node server makes all the time (`HOT`) are allowed in a few
//! instructions, and a binary search over runs of numbers answers ALLOW or
//! the default for the rest, 152 instructions in all. Only the few
//! numbers whose arguments decide (clone, socket, personality...) go on to
//! seccompiler's walk.

use super::super::error::{Result, RuntimeError};
use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

/// What a filter answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Allow,
    Errno(u32),
    KillThread,
    KillProcess,
    Trap,
    Trace(u32),
    Log,
}

impl Action {
    fn seccompiler(self) -> SeccompAction {
        match self {
            Action::Allow => SeccompAction::Allow,
            Action::Errno(e) => SeccompAction::Errno(e),
            Action::KillThread => SeccompAction::KillThread,
            Action::KillProcess => SeccompAction::KillProcess,
            Action::Trap => SeccompAction::Trap,
            Action::Trace(t) => SeccompAction::Trace(t),
            Action::Log => SeccompAction::Log,
        }
    }

    /// Lets the call run (possibly logged).
    pub fn allows(self) -> bool {
        matches!(self, Action::Allow | Action::Log)
    }
}

/// A comparison of one argument (64 bits, as libseccomp compares).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `(arg & mask) == value`
    MaskedEq(u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

/// One rule: `nr` gets `action` when any of `when` holds (all conditions
/// of one inner list together); an empty `when` means always.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub nr: u32,
    pub action: Action,
    pub when: Vec<Vec<Cond>>,
}

/// What every system call number of the native architecture gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// For known numbers that no rule matches.
    pub default: Action,
    /// Numbers above this one are unknown to the policy: ENOSYS.
    pub newest: u32,
    /// Unknown numbers below `newest` (unassigned, or newer than the policy): ENOSYS.
    pub unknown: Vec<RangeInclusive<u32>>,
    /// Numbers that always get ENOSYS (clone3, so libc falls back to clone).
    pub enosys: Vec<u32>,
    pub rules: Vec<Rule>,
}

/// Decided first, in this order: the calls of images/node-api under wrk
/// (strace -c: writev, read, futex, mprotect, epoll_ctl, madvise, close,
/// epoll_pwait, shutdown, accept4, setsockopt, munmap...). On Linux 5.11+
/// the kernel also caches, per number, an ALLOW that does not depend on
/// the arguments, and skips the filter for it: the prologue only reads the
/// architecture and the number, so it keeps every such call cacheable.
pub const HOT: &[&str] = &[
    "read",
    "writev",
    "epoll_pwait",
    "epoll_wait",
    "futex",
    "write",
    "mprotect",
    "epoll_ctl",
    "madvise",
    "close",
    "accept4",
    "shutdown",
    "setsockopt",
    "recvfrom",
    "sendto",
    "readv",
    "getsockname",
    "getpeername",
    "munmap",
    "mmap",
    "brk",
    "getpid",
    "statx",
    "newfstatat",
    "openat",
    "getrandom",
    "sched_yield",
    "clone",
    "socket",
    "personality",
];

fn err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Init(format!("seccomp filter: {e}"))
}

fn arch() -> TargetArch {
    #[cfg(target_arch = "aarch64")]
    return TargetArch::aarch64;
    #[cfg(target_arch = "riscv64")]
    return TargetArch::riscv64;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    TargetArch::x86_64
}

/// AUDIT_ARCH_* of the native architecture.
fn audit_arch() -> u32 {
    #[cfg(target_arch = "aarch64")]
    return 0xC000_00B7;
    #[cfg(target_arch = "riscv64")]
    return 0xC000_00F3;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
    0xC000_003E
}

fn condition(c: &Cond) -> Result<SeccompCondition> {
    let (op, value) = match c.op {
        Op::Eq => (SeccompCmpOp::Eq, c.value),
        Op::Ne => (SeccompCmpOp::Ne, c.value),
        Op::Lt => (SeccompCmpOp::Lt, c.value),
        Op::Le => (SeccompCmpOp::Le, c.value),
        Op::Gt => (SeccompCmpOp::Gt, c.value),
        Op::Ge => (SeccompCmpOp::Ge, c.value),
        Op::MaskedEq(mask) => (SeccompCmpOp::MaskedEq(mask), c.value),
    };
    SeccompCondition::new(c.index, SeccompCmpArgLen::Qword, op, value).map_err(err)
}

/// The rules of `rules` as seccompiler's map: an unconditional rule makes
/// its number's chain empty (always matches).
fn chains<'a>(rules: impl Iterator<Item = &'a Rule>) -> Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut map: BTreeMap<i64, Option<Vec<SeccompRule>>> = BTreeMap::new();
    for r in rules {
        let slot = map
            .entry(i64::from(r.nr))
            .or_insert_with(|| Some(Vec::new()));
        if r.when.is_empty() {
            *slot = None;
            continue;
        }
        if let Some(chain) = slot {
            for all in &r.when {
                let conds = all.iter().map(condition).collect::<Result<Vec<_>>>()?;
                chain.push(SeccompRule::new(conds).map_err(err)?);
            }
        }
    }
    Ok(map
        .into_iter()
        .map(|(nr, c)| (nr, c.unwrap_or_default()))
        .collect())
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: Action,
    matched: Action,
) -> Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, mismatch.seccompiler(), matched.seccompiler(), arch())
        .map_err(err)?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| err(e))
}

impl Policy {
    /// Numbers the first filter allows whatever the arguments: some rule
    /// for them has no condition (rules of other actions are decided by
    /// their own filters).
    fn unconditional(&self) -> BTreeSet<u32> {
        self.rules
            .iter()
            .filter(|r| r.when.is_empty())
            .map(|r| r.nr)
            .collect()
    }

    /// The programs to install, in order (the first one decides by number).
    pub fn programs(&self) -> Result<Vec<BpfProgram>> {
        if self.default.allows() {
            return Err(err("the default action must refuse"));
        }
        let allow = self.unconditional();
        // Numbers whose rules all have conditions: only these need the
        // arguments, so only these go through seccompiler's walk.
        let conditional = chains(self.rules.iter().filter(|r| !allow.contains(&r.nr)))?;
        let args: BTreeSet<u32> = conditional.keys().map(|nr| *nr as u32).collect();
        let main = if conditional.is_empty() {
            Vec::new()
        } else {
            compile(conditional, self.default, Action::Allow)?
        };
        let hot: Vec<u32> = HOT
            .iter()
            .filter_map(|n| super::syscalls::number(n))
            .filter(|nr| allow.contains(nr))
            .collect();
        let mut out = vec![first_filter(self, &hot, &allow, &args, main)?];
        let others: BTreeSet<Action> = self
            .rules
            .iter()
            .map(|r| r.action)
            .filter(|a| *a != Action::Allow)
            .collect();
        for action in others {
            let rules = chains(self.rules.iter().filter(|r| r.action == action))?;
            out.push(compile(rules, Action::Allow, action)?);
        }
        Ok(out)
    }

    /// What the first filter does with each number up to `newest`, by the
    /// number alone, as runs `(first number, what)`; numbers the prologue
    /// answers ENOSYS join the run before them.
    fn runs(&self, allow: &BTreeSet<u32>, args: &BTreeSet<u32>) -> Vec<(u32, ByNumber)> {
        let enosys =
            |nr: u32| self.enosys.contains(&nr) || self.unknown.iter().any(|r| r.contains(&nr));
        let mut runs: Vec<(u32, ByNumber)> = Vec::new();
        for nr in 0..=self.newest {
            let what = if allow.contains(&nr) {
                ByNumber::Allow
            } else if args.contains(&nr) {
                ByNumber::Arguments
            } else if enosys(nr) {
                continue;
            } else {
                ByNumber::Refuse
            };
            match runs.last() {
                Some((_, last)) if *last == what => {}
                None => runs.push((0, what)),
                Some(_) => runs.push((nr, what)),
            }
        }
        if runs.is_empty() {
            runs.push((0, ByNumber::Refuse));
        }
        runs
    }
}

/// The first filter's answer for a number whose arguments do not matter,
/// or that the arguments decide (seccompiler's walk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByNumber {
    Allow,
    Refuse,
    Arguments,
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGT_K: u16 = 0x25;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Where a prologue jump goes.
#[derive(Clone, Copy)]
enum To {
    Next,
    /// Over the next instruction.
    SkipOne,
    Allow,
    Enosys,
    Kill,
}

/// A binary search over `runs` (the accumulator holds the number): `jge`
/// at each split, one instruction per run at the leaves — `ret ALLOW`,
/// `ret <refuse>`, or a jump to the argument checks (`None`: its offset is
/// set once their place is known).
fn search(runs: &[(u32, ByNumber)], refuse: u32) -> Vec<(sock_filter, bool)> {
    if let [(_, what)] = runs {
        return vec![match what {
            ByNumber::Allow => (
                insn(BPF_RET_K, 0, 0, u32::from(SeccompAction::Allow)),
                false,
            ),
            ByNumber::Refuse => (insn(BPF_RET_K, 0, 0, refuse), false),
            ByNumber::Arguments => (insn(BPF_JMP_JA, 0, 0, 0), true),
        }];
    }
    let mid = runs.len() / 2;
    let left = search(&runs[..mid], refuse);
    let right = search(&runs[mid..], refuse);
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        // nr >= split: over the left half.
        Ok(skip) => out.push((insn(BPF_JGE_K, skip, 0, runs[mid].0), false)),
        Err(_) => {
            out.push((insn(BPF_JGE_K, 0, 1, runs[mid].0), false));
            out.push((insn(BPF_JMP_JA, 0, 0, left.len() as u32), false));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The first filter:
///
/// ```text
///   ld arch; jne native → KILL
///   ld nr; jgt newest → ENOSYS; per unknown range: jge lo, jgt hi → ENOSYS
///   jeq each ENOSYS number → ENOSYS; jeq each hot call → ALLOW
///   ja search; ret ALLOW; ret ERRNO(ENOSYS); ret KILL
///   search: a binary search over the number: ret ALLOW | ret <default> | ja main
///   main: seccompiler's walk over the numbers whose arguments decide
/// ```
///
/// Only the last part depends on arguments, so it is all seccompiler
/// compiles: the kernel converts and JIT-compiles every filter at each
/// container start, and a walk over all the numbers was 1,495 instructions
/// where this is 152.
fn first_filter(
    p: &Policy,
    hot: &[u32],
    allow: &BTreeSet<u32>,
    args: &BTreeSet<u32>,
    main: BpfProgram,
) -> Result<BpfProgram> {
    // (code, k, jt, jf) with symbolic targets, resolved below.
    let mut ins: Vec<(u16, u32, To, To)> = vec![
        (BPF_LD_W_ABS, OFFSET_ARCH, To::Next, To::Next),
        (BPF_JEQ_K, audit_arch(), To::Next, To::Kill),
        (BPF_LD_W_ABS, OFFSET_NR, To::Next, To::Next),
        (BPF_JGT_K, p.newest, To::Enosys, To::Next),
    ];
    for r in &p.unknown {
        // nr >= lo: test nr > hi; else skip that test.
        ins.push((BPF_JGE_K, *r.start(), To::Next, To::SkipOne));
        ins.push((BPF_JGT_K, *r.end(), To::Next, To::Enosys));
    }
    for nr in &p.enosys {
        ins.push((BPF_JEQ_K, *nr, To::Enosys, To::Next));
    }
    for nr in hot {
        ins.push((BPF_JEQ_K, *nr, To::Allow, To::Next));
    }
    let ja_search = ins.len();
    let allow_at = ja_search + 1;
    let enosys_at = ja_search + 2;
    let kill_at = ja_search + 3;
    let search_at = ja_search + 4;
    let refuse = u32::from(p.default.seccompiler());
    let tree = search(&p.runs(allow, args), refuse);
    let main_at = search_at + tree.len();
    let mut out: BpfProgram = Vec::with_capacity(main_at + main.len());
    for (i, (code, k, jt, jf)) in ins.iter().enumerate() {
        let off = |t: To| -> Result<u8> {
            let target = match t {
                To::Next => i + 1,
                To::SkipOne => i + 2,
                To::Allow => allow_at,
                To::Enosys => enosys_at,
                To::Kill => kill_at,
            };
            u8::try_from(target - (i + 1)).map_err(|_| err("prologue too long"))
        };
        out.push(insn(*code, off(*jt)?, off(*jf)?, *k));
    }
    out.push(insn(BPF_JMP_JA, 0, 0, 3));
    out.push(insn(BPF_RET_K, 0, 0, u32::from(SeccompAction::Allow)));
    out.push(insn(
        BPF_RET_K,
        0,
        0,
        u32::from(SeccompAction::Errno(libc::ENOSYS as u32)),
    ));
    out.push(insn(BPF_RET_K, 0, 0, u32::from(SeccompAction::KillProcess)));
    for (i, (mut f, to_main)) in tree.into_iter().enumerate() {
        if to_main {
            if main.is_empty() {
                return Err(err("a number to check by its arguments without rules"));
            }
            f.k = u32::try_from(main_at - (search_at + i + 1)).map_err(err)?;
        }
        out.push(f);
    }
    out.extend(main);
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    //! A tiny classic-BPF interpreter for the instructions skiff's programs
    //! use, so the compiled programs can be checked number by number
    //! without installing them. The end-to-end proof is tests/seccomp.rs.
    use super::*;

    pub fn run(prog: &[sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = vec![nr, arch, 0, 0];
        for a in args {
            data.push(a as u32);
            data.push((a >> 32) as u32);
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = &prog[pc];
            match i.code {
                0x20 => acc = data[(i.k / 4) as usize],
                0x05 => {
                    pc += i.k as usize;
                }
                0x15 | 0x25 | 0x35 | 0x45 => {
                    let t = match i.code {
                        0x15 => acc == i.k,
                        0x25 => acc > i.k,
                        0x35 => acc >= i.k,
                        _ => acc & i.k != 0,
                    };
                    pc += if t { i.jt } else { i.jf } as usize;
                }
                0x54 => acc &= i.k,
                0x06 => return i.k,
                c => panic!("unexpected BPF code {c:#x}"),
            }
            pc += 1;
        }
    }

    /// The answer of the whole stack of programs (most restrictive wins,
    /// newest first among equal actions), as the kernel combines them.
    pub fn decide(progs: &[BpfProgram], nr: u32, args: [u64; 6]) -> u32 {
        let mut ret = u32::from(SeccompAction::Allow);
        for p in progs.iter().rev() {
            let r = run(p, audit_arch(), nr, args);
            if ((r & 0xffff_0000) as i32) < ((ret & 0xffff_0000) as i32) {
                ret = r;
            }
        }
        ret
    }

    pub const ALLOW: u32 = 0x7fff_0000;
    pub const fn errno(e: i32) -> u32 {
        0x0005_0000 | e as u32
    }

    fn policy() -> Policy {
        Policy {
            default: Action::Errno(1),
            newest: 20,
            unknown: vec![10..=12],
            enosys: vec![5],
            rules: vec![
                Rule {
                    nr: 0,
                    action: Action::Allow,
                    when: vec![],
                },
                Rule {
                    nr: 1,
                    action: Action::Allow,
                    when: vec![vec![Cond {
                        index: 0,
                        op: Op::Eq,
                        value: 7,
                    }]],
                },
                Rule {
                    nr: 2,
                    action: Action::Errno(22),
                    when: vec![],
                },
                Rule {
                    nr: 3,
                    action: Action::Allow,
                    when: vec![vec![Cond {
                        index: 0,
                        op: Op::MaskedEq(0xf0),
                        value: 0,
                    }]],
                },
            ],
        }
    }

    #[test]
    fn actions_per_number() {
        let progs = policy().programs().unwrap();
        assert_eq!(progs.len(), 2);
        let d = |nr, a0| decide(&progs, nr, [a0, 0, 0, 0, 0, 0]);
        assert_eq!(d(0, 0), ALLOW);
        assert_eq!(d(1, 7), ALLOW);
        assert_eq!(d(1, 8), errno(1));
        assert_eq!(d(2, 0), errno(22));
        assert_eq!(d(3, 0x0f), ALLOW);
        assert_eq!(d(3, 0x10), errno(1));
        assert_eq!(d(3, 0x1_0000_0000), ALLOW);
        assert_eq!(d(4, 0), errno(1));
        assert_eq!(d(5, 0), errno(libc::ENOSYS));
        assert_eq!(d(9, 0), errno(1));
        assert_eq!(d(10, 0), errno(libc::ENOSYS));
        assert_eq!(d(12, 0), errno(libc::ENOSYS));
        assert_eq!(d(13, 0), errno(1));
        assert_eq!(d(20, 0), errno(1));
        assert_eq!(d(21, 0), errno(libc::ENOSYS));
        assert_eq!(d(0x4000_0000, 0), errno(libc::ENOSYS));
        // A foreign architecture is killed by seccompiler's own check.
        assert_eq!(
            run(&progs[0], 0x4000_0003, 0, [0; 6]),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    /// What the stack of filters must answer, straight from the policy:
    /// ENOSYS for unknown numbers; else the most restrictive of ALLOW-or-
    /// default (any rule matches or not) and each other action whose rules
    /// match.
    fn expected(p: &Policy, nr: u32, args: [u64; 6]) -> u32 {
        let enosys = errno(libc::ENOSYS);
        if nr > p.newest || p.enosys.contains(&nr) || p.unknown.iter().any(|r| r.contains(&nr)) {
            return enosys;
        }
        let holds = |c: &Cond| {
            let a = args[c.index as usize];
            match c.op {
                Op::Eq => a == c.value,
                Op::Ne => a != c.value,
                Op::Lt => a < c.value,
                Op::Le => a <= c.value,
                Op::Gt => a > c.value,
                Op::Ge => a >= c.value,
                Op::MaskedEq(m) => a & m == c.value,
            }
        };
        let matching: Vec<&Rule> = p
            .rules
            .iter()
            .filter(|r| r.nr == nr)
            .filter(|r| r.when.is_empty() || r.when.iter().any(|all| all.iter().all(holds)))
            .collect();
        let mut answers = vec![if matching.is_empty() {
            u32::from(p.default.seccompiler())
        } else {
            ALLOW
        }];
        answers.extend(
            matching
                .iter()
                .filter(|r| r.action != Action::Allow)
                .map(|r| u32::from(r.action.seccompiler())),
        );
        answers
            .into_iter()
            .min_by_key(|r| (r & 0xffff_0000) as i32)
            .unwrap_or(ALLOW)
    }

    #[test]
    fn the_default_policy_answers_as_its_rules_say_for_every_number() {
        let p = super::super::default_profile::policy((6, 18)).unwrap();
        let progs = p.programs().unwrap();
        assert!(
            progs[0].len() < 400,
            "first filter: {} instructions",
            progs[0].len()
        );
        let argsets: [[u64; 6]; 5] = [
            [0; 6],
            [u64::MAX; 6],
            [0x7e02_0000, 0, 0, 0, 0, 0], // clone with namespace flags
            [40, 1, 0, 0, 0, 0],          // socket(AF_VSOCK)
            [0x0040_0000, 0, 0, 0, 0, 0], // personality(ADDR_NO_RANDOMIZE)
        ];
        for nr in 0..=p.newest + 20 {
            for a in argsets {
                assert_eq!(
                    decide(&progs, nr, a),
                    expected(&p, nr, a),
                    "number {nr}, args {a:x?}"
                );
            }
        }
    }

    #[test]
    fn a_policy_without_conditions_needs_no_walk() {
        let mut p = policy();
        p.rules.retain(|r| r.when.is_empty());
        let progs = p.programs().unwrap();
        for nr in 0..=25 {
            assert_eq!(
                decide(&progs, nr, [0; 6]),
                expected(&p, nr, [0; 6]),
                "number {nr}"
            );
        }
    }

    #[test]
    fn allowing_default_is_refused() {
        let mut p = policy();
        p.default = Action::Allow;
        assert!(p.programs().is_err());
    }
}
