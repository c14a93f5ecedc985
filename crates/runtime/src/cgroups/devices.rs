//! The device allowlist: OCI rules normalised once, then written as v1
//! `devices.allow`/`devices.deny` lines or compiled into a v2
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program (later rules win, as in v1).

use std::os::fd::{AsFd, BorrowedFd};

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Result, RuntimeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    /// `a` (any), `c` or `b`.
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Subset of `rwm`.
    pub access: String,
}

impl DeviceRule {
    const fn allow_char(major: i64, minor: Option<i64>) -> Self {
        DeviceRule { allow: true, kind: 'c', major: Some(major), minor, access: String::new() }
    }
}

/// What the runtime appends to every device policy, as runc does: `mknod` of
/// any character or block device (so the spec's `linux.devices` can be
/// created under a deny-all policy; opening them stays subject to the rules),
/// then the devices the runtime itself creates in /dev.
pub fn default_allows() -> Vec<DeviceRule> {
    let mknod = |kind| DeviceRule { allow: true, kind, major: None, minor: None, access: "m".into() };
    let rwm = |mut r: DeviceRule| {
        r.access = "rwm".into();
        r
    };
    let mut out = vec![mknod('c'), mknod('b')];
    out.extend(
        [
            (1, Some(3)), // null
            (1, Some(5)), // zero
            (1, Some(7)), // full
            (1, Some(8)), // random
            (1, Some(9)), // urandom
            (5, Some(0)), // tty
            (5, Some(1)), // console
            (5, Some(2)), // ptmx
            (136, None),  // pts/*
        ]
        .into_iter()
        .map(|(maj, min)| rwm(DeviceRule::allow_char(maj, min))),
    );
    out
}

/// The spec's rules in order, then [`default_allows`]: as in runc, the
/// runtime's own devices stay usable whatever the spec says, since containers
/// break without them.
///
/// A rule for any device type (`a`) is the policy switch ("allow all" / "deny
/// all") only when it covers every device and every access; otherwise it is
/// split into one `c` and one `b` rule. cgroup v1 treats every `a` line as the
/// switch whatever its numbers and access, so writing `a *:* m` to
/// `devices.allow` would allow everything.
pub fn effective_rules(rules: &[LinuxDeviceCgroup]) -> Vec<DeviceRule> {
    let mut out = Vec::new();
    for r in rules {
        let rule = DeviceRule {
            allow: r.allow(),
            kind: match r.typ() {
                Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
                Some(LinuxDeviceType::B) => 'b',
                _ => 'a',
            },
            major: r.major().filter(|m| *m >= 0),
            minor: r.minor().filter(|m| *m >= 0),
            access: normalise_access(r.access().as_deref()),
        };
        let switch = rule.major.is_none() && rule.minor.is_none() && rule.access == "rwm";
        if rule.kind == 'a' && !switch {
            out.push(DeviceRule { kind: 'c', ..rule.clone() });
            out.push(DeviceRule { kind: 'b', ..rule });
        } else {
            out.push(rule);
        }
    }
    out.extend(default_allows());
    out
}

/// `access` as a subset of `rwm` in that order; missing or empty means all.
fn normalise_access(access: Option<&str>) -> String {
    let a = access.unwrap_or("");
    if a.is_empty() {
        return "rwm".into();
    }
    "rwm".chars().filter(|c| a.contains(*c)).collect()
}

// eBPF encoding helpers (see linux/bpf.h).
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    u64::from(code)
        | (u64::from(dst & 0xf) << 8)
        | (u64::from(src & 0xf) << 12)
        | (u64::from(off as u16) << 16)
        | (u64::from(imm as u32) << 32)
}
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const AND32_K: u8 = 0x54;
const RSH32_K: u8 = 0x74;
const MOV64_X: u8 = 0xbf;
const MOV64_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const JNE_X: u8 = 0x5d;
const EXIT: u8 = 0x95;

/// Compiles `rules` to a cgroup-device program: the last matching rule decides,
/// no match denies.
pub fn bpf_program(rules: &[DeviceRule]) -> Vec<u64> {
    let mut prog = vec![
        insn(LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(AND32_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH32_K, 3, 0, 0, 16), // r3 = requested access
        insn(LDX_W, 4, 1, 4, 0),    // r4 = major
        insn(LDX_W, 5, 1, 8, 0),    // r5 = minor
    ];
    for rule in rules.iter().rev() {
        let mut block: Vec<(u8, u8, u8, i32)> = Vec::new(); // conditional jumps, patched below
        match rule.kind {
            'c' => block.push((JNE_K, 2, 0, 2)),
            'b' => block.push((JNE_K, 2, 0, 1)),
            _ => {}
        }
        let mask = rule.access.chars().fold(0, |m, c| {
            m | match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => 0,
            }
        });
        let mut body: Vec<u64> = Vec::new();
        let mut jumps: Vec<usize> = Vec::new();
        for (code, dst, _src, imm) in block {
            jumps.push(body.len());
            body.push(insn(code, dst, 0, 0, imm));
        }
        if mask != 7 {
            body.push(insn(MOV64_X, 1, 3, 0, 0));
            body.push(insn(AND32_K, 1, 0, 0, mask));
            jumps.push(body.len());
            body.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(major) = rule.major {
            jumps.push(body.len());
            body.push(insn(JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            jumps.push(body.len());
            body.push(insn(JNE_K, 5, 0, 0, minor as i32));
        }
        body.push(insn(MOV64_K, 0, 0, 0, i32::from(rule.allow)));
        body.push(insn(EXIT, 0, 0, 0, 0));
        let len = body.len();
        let jumps_len = jumps.len();
        for at in jumps {
            // Jump past the rest of this block: offset counts from the next instruction.
            let off = (len - at - 1) as i16;
            body[at] = (body[at] & !(0xffff << 16)) | (u64::from(off as u16) << 16);
        }
        let catch_all = jumps_len == 0;
        prog.extend(body);
        if catch_all {
            // Matches every access: earlier rules are shadowed, and the kernel's
            // verifier rejects unreachable instructions.
            return prog;
        }
    }
    prog.push(insn(MOV64_K, 0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Loads `program` and attaches it to the cgroup v2 directory `cgroup`.
pub fn attach(cgroup: BorrowedFd<'_>, program: &[u64]) -> Result<()> {
    let prog = crate::sys::bpf_prog_load_cgroup_device(program)
        .map_err(|e| RuntimeError::Cgroup(format!("load device program: {e}")))?;
    crate::sys::bpf_attach_cgroup_device(cgroup, prog.as_fd())
        .map_err(|e| RuntimeError::Cgroup(format!("attach device program: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for exactly the instructions [`bpf_program`] emits,
    /// so the program's verdicts are checked without loading it.
    fn run(prog: &[u64], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [kind | (access << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (code, dst, src) = ((i & 0xff) as u8, ((i >> 8) & 0xf) as usize, ((i >> 12) & 0xf) as usize);
            let off = ((i >> 16) & 0xffff) as u16 as i16;
            let imm = (i >> 32) as u32 as i32;
            pc += 1;
            match code {
                LDX_W => r[dst] = u64::from(ctx[(off / 4) as usize]),
                AND32_K => r[dst] &= imm as u32 as u64,
                RSH32_K => r[dst] = (r[dst] as u32 >> imm) as u64,
                MOV64_X => r[dst] = r[src],
                MOV64_K => r[dst] = imm as i64 as u64,
                JNE_K if r[dst] != imm as i64 as u64 => pc += off as usize,
                JNE_X if r[dst] != r[src] => pc += off as usize,
                JNE_K | JNE_X => {}
                EXIT => return r[0],
                _ => panic!("unexpected opcode {code:#x}"),
            }
        }
    }

    #[test]
    fn last_matching_rule_wins() {
        let deny_all = DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: "rwm".into() };
        let allow_sda_read = DeviceRule { allow: true, kind: 'b', major: Some(8), minor: Some(0), access: "r".into() };
        let mut rules = vec![deny_all, allow_sda_read];
        rules.extend(default_allows());
        let prog = bpf_program(&rules);
        assert_eq!(run(&prog, CHAR, 2 | 4, 1, 3), 1, "/dev/null rw allowed");
        assert_eq!(run(&prog, CHAR, 2, 1, 4), 0, "1:4 denied");
        assert_eq!(run(&prog, BLOCK, 2, 8, 0), 1, "sda read allowed");
        assert_eq!(run(&prog, BLOCK, 4, 8, 0), 0, "sda write denied");
        assert_eq!(run(&prog, CHAR, 2, 136, 7), 1, "any pts allowed");
        assert_eq!(run(&prog, BLOCK, 2, 136, 7), 0, "block 136:7 denied");
    }

    #[test]
    fn catch_all_rule_ends_the_program() {
        let allow_all = DeviceRule { allow: true, kind: 'a', major: None, minor: None, access: "rwm".into() };
        let mut rules = default_allows();
        rules.push(allow_all);
        let prog = bpf_program(&rules);
        // Header (6) + mov + exit: nothing unreachable after the catch-all.
        assert_eq!(prog.len(), 8);
        assert_eq!(run(&prog, 1, 4, 8, 0), 1);
    }

    const CHAR: u32 = 2;
    const BLOCK: u32 = 1;
    const MKNOD: u32 = 1;
    const READ: u32 = 2;
    const WRITE: u32 = 4;

    fn spec_rule(allow: bool, typ: Option<LinuxDeviceType>, access: &str) -> LinuxDeviceCgroup {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(allow);
        r.set_typ(typ);
        r.set_access(Some(access.into()));
        r
    }

    #[test]
    fn v1_lines() {
        let rules = effective_rules(&[]);
        let lines: Vec<String> = rules.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(&lines[..3], ["c *:* m", "b *:* m", "c 1:3 rwm"]);
        assert_eq!(lines.last().unwrap(), "c 136:* rwm");
        for dev in ["c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm"] {
            assert!(lines.iter().any(|l| l == dev), "{dev} missing from {lines:?}");
        }
    }

    #[test]
    fn deny_all_still_lets_any_device_be_created_but_not_opened() {
        let rules = effective_rules(&[spec_rule(false, None, "rwm")]);
        assert_eq!(rules[0].v1_line(), "a *:* rwm");
        assert!(!rules[0].allow);
        let prog = bpf_program(&rules);
        // mknod of anything (the spec's linux.devices are created after the policy is set)...
        assert_eq!(run(&prog, CHAR, MKNOD, 10, 229), 1, "mknod c 10:229 (fuse)");
        assert_eq!(run(&prog, CHAR, MKNOD, 4, 1), 1, "mknod c 4:1 (tty1)");
        assert_eq!(run(&prog, BLOCK, MKNOD, 7, 0), 1, "mknod b 7:0 (loop0)");
        // ... but no open of what the policy does not allow.
        assert_eq!(run(&prog, CHAR, READ, 4, 1), 0, "open c 4:1");
        assert_eq!(run(&prog, CHAR, READ | WRITE, 10, 229), 0, "open c 10:229");
        assert_eq!(run(&prog, BLOCK, READ, 7, 0), 0, "open b 7:0");
        assert_eq!(run(&prog, BLOCK, READ | WRITE, 8, 0), 0, "open b 8:0");
        assert_eq!(run(&prog, CHAR, MKNOD | READ, 4, 1), 0, "mknod+read is more than mknod");
        for (major, minor) in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2), (136, 3)] {
            assert_eq!(run(&prog, CHAR, READ | WRITE, major, minor), 1, "c {major}:{minor} usable");
        }
        assert_eq!(run(&prog, BLOCK, READ, 1, 3), 0, "b 1:3 is not /dev/null");
    }

    #[test]
    fn partial_any_type_rule_is_not_a_policy_switch() {
        // On v1, `a *:* m` written to devices.allow would allow everything.
        let rules = effective_rules(&[spec_rule(false, None, "rwm"), spec_rule(true, Some(LinuxDeviceType::A), "m")]);
        let lines: Vec<String> = rules.iter().map(DeviceRule::v1_line).collect();
        assert_eq!(&lines[..3], ["a *:* rwm", "c *:* m", "b *:* m"]);
        assert_eq!(lines.iter().filter(|l| l.starts_with('a')).count(), 1, "{lines:?}");
        let prog = bpf_program(&rules);
        assert_eq!(run(&prog, CHAR, READ, 4, 1), 0);
        assert_eq!(run(&prog, CHAR, MKNOD, 4, 1), 1);
        // Access letters are normalised (order, duplicates, empty = all).
        let r = effective_rules(&[spec_rule(true, Some(LinuxDeviceType::C), "mwrw"), spec_rule(true, None, "")]);
        assert_eq!(r[0].access, "rwm");
        assert_eq!(r[1].v1_line(), "a *:* rwm");
    }
}
